/**
 * The key `npm start` runs with (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else local/local): the functions sign with
 * it, and the local S3 accepts only requests signed with it, as S3 accepts only a known key. In AWS the role's are used.
 */
export const localCredentials = () => ({
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'local', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'local' },
});
