// Integration tests drive a real stack: uploads, queues and workers take seconds, not milliseconds.
jest.setTimeout(180_000);
