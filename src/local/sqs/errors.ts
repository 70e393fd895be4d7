/**
 * An SQS API error as the AWS JSON 1.0 protocol carries it: `__type` names the modelled shape and the
 * `x-amzn-query-error` header the legacy query code, which the SDK (awsQueryCompatible) prefers.
 */
export class SqsError extends Error {
  override readonly name = 'SqsError';

  constructor(
    /** Smithy shape name (`QueueDoesNotExist`) or, for unmodelled errors, the query code itself. */
    readonly type: string,
    /** The awsQuery error code (`AWS.SimpleQueueService.NonExistentQueue`), as real SQS sends it in `x-amzn-query-error`. */
    readonly queryCode: string,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Factories for the errors the emulator raises, with the codes and statuses of the SQS model. */
export const errors = {
  queueDoesNotExist: () => new SqsError('QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 400, 'The specified queue does not exist.'),
  invalidAddress: (url: string) => new SqsError('InvalidAddress', 'InvalidAddress', 404, `The address ${url} is not valid for this endpoint.`),
  queueNameExists: (name: string) =>
    new SqsError(
      'QueueNameExists',
      'QueueAlreadyExists',
      400,
      `A queue already exists with the same name and a different value for attribute(s) of ${name}`,
    ),
  receiptHandleIsInvalid: (handle: string) =>
    new SqsError('ReceiptHandleIsInvalid', 'ReceiptHandleIsInvalid', 404, `The input receipt handle "${handle}" is not a valid receipt handle.`),
  messageNotInflight: () =>
    new SqsError('MessageNotInflight', 'AWS.SimpleQueueService.MessageNotInflight', 400, 'The message referred to is not in flight.'),
  invalidAttributeName: (name: string) => new SqsError('InvalidAttributeName', 'InvalidAttributeName', 400, `Unknown Attribute ${name}.`),
  invalidAttributeValue: (message: string) => new SqsError('InvalidAttributeValue', 'InvalidAttributeValue', 400, message),
  invalidParameterValue: (message: string) => new SqsError('InvalidParameterValue', 'InvalidParameterValue', 400, message),
  missingParameter: (name: string) => new SqsError('MissingParameter', 'MissingParameter', 400, `The request must contain the parameter ${name}.`),
  invalidMessageContents: (message: string) => new SqsError('InvalidMessageContents', 'InvalidMessageContents', 400, message),
  emptyBatchRequest: () =>
    new SqsError('EmptyBatchRequest', 'AWS.SimpleQueueService.EmptyBatchRequest', 400, 'There should be at least one entry in the request.'),
  tooManyEntries: (n: number) =>
    new SqsError(
      'TooManyEntriesInBatchRequest',
      'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
      400,
      `Maximum number of entries per request are 10. You have sent ${n}.`,
    ),
  batchEntryIdsNotDistinct: (id: string) =>
    new SqsError('BatchEntryIdsNotDistinct', 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct', 400, `Id ${id} repeated.`),
  invalidBatchEntryId: () =>
    new SqsError(
      'InvalidBatchEntryId',
      'AWS.SimpleQueueService.InvalidBatchEntryId',
      400,
      'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
    ),
  batchRequestTooLong: (max: number) =>
    new SqsError('BatchRequestTooLong', 'AWS.SimpleQueueService.BatchRequestTooLong', 400, `Batch requests cannot be longer than ${max} bytes.`),
  unsupportedOperation: (message: string) => new SqsError('UnsupportedOperation', 'AWS.SimpleQueueService.UnsupportedOperation', 400, message),
  missingAction: () => new SqsError('MissingAction', 'MissingAction', 400, 'The request must contain the parameter Action.'),
  invalidAction: (action: string) => new SqsError('InvalidAction', 'InvalidAction', 400, `The action ${action} is not valid for this endpoint.`),
};
