module.exports = async () => {
  await globalThis.__LOCAL_STACK__?.stop();
};
