/** Credentials for the local S3 and SQS, which check signatures but not who signed; in AWS the role's are used. */
export const localCredentials = () => ({
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'local', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'local' },
});
