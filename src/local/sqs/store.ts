import { randomBytes, randomUUID } from 'node:crypto';
import { errors } from './errors';
import { Journal } from './journal';
import { type MessageAttributeValue, md5OfBody } from './md5';

/** Account id and region of every emulated queue ARN. */
export const ACCOUNT_ID = '000000000000';
export const REGION = 'us-east-1';

/** A queue to create at start, e.g. a DLQ and a main queue whose RedrivePolicy names the DLQ's ARN. */
export interface QueueSpec {
  name: string;
  attributes?: Record<string, string>;
}

/** One message as stored and journaled. Times are epoch milliseconds. */
export interface StoredMessage {
  id: string;
  body: string;
  md5: string;
  attributes: Record<string, MessageAttributeValue>;
  traceHeader?: string;
  senderId: string;
  sent: number;
  /** Delay and visibility timeout are both "not receivable before this instant". */
  visibleAt: number;
  receiveCount: number;
  firstReceive?: number;
  receipt?: string;
  deadLetterSourceArn?: string;
}

interface Queue {
  name: string;
  attributes: Record<string, string>;
  created: number;
  modified: number;
  /** Insertion-ordered, which gives the best-effort FIFO order of a standard queue. */
  messages: Map<string, StoredMessage>;
}

type JournalRecord =
  | { op: 'queue'; name: string; attributes: Record<string, string>; created: number; modified: number }
  | { op: 'deleteQueue'; name: string }
  | { op: 'message'; queue: string; message: StoredMessage }
  | { op: 'receive'; queue: string; id: string; receipt: string; visibleAt: number; count: number; first: number }
  | { op: 'visibility'; queue: string; id: string; visibleAt: number }
  | { op: 'delete'; queue: string; id: string }
  | { op: 'moveToDlq'; queue: string; id: string; to: string }
  | { op: 'purge'; queue: string };

/** The part of SendMessage a store needs, already decoded from the wire. */
export interface SendInput {
  body: string;
  delaySeconds?: number;
  attributes?: Record<string, MessageAttributeValue>;
  traceHeader?: string;
  senderId: string;
}

const DEFAULTS: Record<string, string> = {
  DelaySeconds: '0',
  MaximumMessageSize: '262144',
  MessageRetentionPeriod: '345600',
  ReceiveMessageWaitTimeSeconds: '0',
  VisibilityTimeout: '30',
  SqsManagedSseEnabled: 'false',
};

const RANGES: Record<string, [number, number]> = {
  DelaySeconds: [0, 900],
  MaximumMessageSize: [1024, 1048576],
  MessageRetentionPeriod: [60, 1209600],
  ReceiveMessageWaitTimeSeconds: [0, 20],
  VisibilityTimeout: [0, 43200],
  KmsDataKeyReusePeriodSeconds: [60, 86400],
};

/** Attributes a caller may set; computed ones (QueueArn, counts, timestamps) are read-only. */
const SETTABLE = new Set([...Object.keys(RANGES), 'Policy', 'RedrivePolicy', 'RedriveAllowPolicy', 'KmsMasterKeyId', 'SqsManagedSseEnabled']);

const COMPUTED = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
];

// XML 1.0 characters, the set SQS accepts in bodies and string attribute values.
const VALID_TEXT = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const ATTRIBUTE_NAME = /^(?!aws\.|amazon\.)(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9_.-]{1,256}$/i;

/** ARN of an emulated queue. */
export function queueArn(name: string): string {
  return `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:${name}`;
}

function newReceipt(id: string): string {
  // Opaque like AWS's, but decodable so a handle of a deleted message can be told from garbage.
  return Buffer.from(`${id}:${randomBytes(24).toString('base64url')}`).toString('base64');
}

function messageIdOfReceipt(handle: string): string | undefined {
  const decoded = Buffer.from(handle, 'base64').toString('utf8');
  const match = /^([0-9a-f-]{36}):[A-Za-z0-9_-]{32}$/.exec(decoded);
  return match?.[1];
}

/** The emulator's state: queues and messages, every mutation journaled before it is acknowledged. */
export class SqsStore {
  private readonly queues = new Map<string, Queue>();
  private liveMessages = 0;

  /** Called after any change that may make a message receivable, so long polls can be answered. */
  onReceivable: (queue: string) => void = () => {};

  constructor(
    private readonly journal: Journal<JournalRecord>,
    records: Iterable<JournalRecord>,
    private readonly now: () => number = Date.now,
  ) {
    for (const record of records) this.apply(record);
    this.compact();
  }

  /** Opens the journal in `dataDir`, replays it and compacts it. */
  static open(dataDir: string, options: { fsync?: boolean; releaseInFlight?: boolean } = {}): SqsStore {
    const { journal, records } = Journal.open<JournalRecord>(dataDir, options.fsync ?? false);
    const store = new SqsStore(journal, records);
    if (options.releaseInFlight) {
      const now = store.now();
      for (const queue of store.queues.values()) {
        for (const m of queue.messages.values()) {
          if (m.receiveCount > 0 && m.visibleAt > now) store.write({ op: 'visibility', queue: queue.name, id: m.id, visibleAt: now });
        }
      }
    }
    return store;
  }

  close(): void {
    this.journal.close();
  }

  // Replay and live mutation share this one function, so what is replayed is exactly what was acknowledged.
  private apply(record: JournalRecord): void {
    switch (record.op) {
      case 'queue': {
        const existing = this.queues.get(record.name);
        if (existing) {
          existing.attributes = record.attributes;
          existing.modified = record.modified;
        } else {
          const { name, attributes, created, modified } = record;
          this.queues.set(name, { name, attributes, created, modified, messages: new Map() });
        }
        return;
      }
      case 'deleteQueue': {
        const q = this.queues.get(record.name);
        if (q) this.liveMessages -= q.messages.size;
        this.queues.delete(record.name);
        return;
      }
      case 'message': {
        const q = this.queues.get(record.queue);
        if (q && !q.messages.has(record.message.id)) {
          q.messages.set(record.message.id, record.message);
          this.liveMessages += 1;
        }
        return;
      }
      case 'receive': {
        const m = this.queues.get(record.queue)?.messages.get(record.id);
        if (m) {
          m.receipt = record.receipt;
          m.visibleAt = record.visibleAt;
          m.receiveCount = record.count;
          m.firstReceive = record.first;
        }
        return;
      }
      case 'visibility': {
        const m = this.queues.get(record.queue)?.messages.get(record.id);
        if (m) m.visibleAt = record.visibleAt;
        return;
      }
      case 'delete': {
        if (this.queues.get(record.queue)?.messages.delete(record.id)) this.liveMessages -= 1;
        return;
      }
      case 'moveToDlq': {
        const from = this.queues.get(record.queue);
        const m = from?.messages.get(record.id);
        const to = this.queues.get(record.to);
        if (!from || !m) return;
        from.messages.delete(m.id);
        this.liveMessages -= 1;
        if (!to) return;
        m.receipt = undefined;
        m.visibleAt = 0;
        m.deadLetterSourceArn = queueArn(from.name);
        to.messages.set(m.id, m);
        this.liveMessages += 1;
        return;
      }
      case 'purge': {
        const q = this.queues.get(record.queue);
        if (q) {
          this.liveMessages -= q.messages.size;
          q.messages.clear();
        }
        return;
      }
    }
  }

  private write(record: JournalRecord): void {
    this.journal.append(record);
    this.apply(record);
    const live = this.liveMessages + this.queues.size;
    if (this.journal.size > 10_000 && this.journal.size > 4 * live) this.compact();
  }

  private *snapshot(): Generator<JournalRecord> {
    const now = this.now();
    for (const q of this.queues.values()) {
      const { messages, ...meta } = q;
      yield { op: 'queue', ...meta };
      for (const message of messages.values()) {
        if (!this.expired(q, message, now)) yield { op: 'message', queue: q.name, message };
      }
    }
  }

  /** Rewrites the journal as one record per queue and live message. */
  compact(): void {
    this.journal.rewrite(this.snapshot());
    // Expired messages were left out of the snapshot; drop them from memory too.
    const now = this.now();
    for (const q of this.queues.values()) {
      for (const m of q.messages.values()) {
        if (this.expired(q, m, now)) {
          q.messages.delete(m.id);
          this.liveMessages -= 1;
        }
      }
    }
  }

  private expired(q: Queue, m: StoredMessage, now: number): boolean {
    // Retention counts from the original send, also after a move to a DLQ, as on AWS standard queues.
    return m.sent + this.numberAttr(q, 'MessageRetentionPeriod') * 1000 <= now;
  }

  private numberAttr(q: Queue, name: string): number {
    return Number(q.attributes[name] ?? DEFAULTS[name] ?? 0);
  }

  private validateAttributes(attributes: Record<string, string>, creating: boolean): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(attributes)) {
      if (name === 'FifoQueue' || name === 'ContentBasedDeduplication' || name === 'DeduplicationScope' || name === 'FifoThroughputLimit') {
        if (name === 'FifoQueue' && value === 'false' && creating) continue;
        throw errors.unsupportedOperation(`FIFO queues are not supported by the local SQS emulator (attribute ${name}).`);
      }
      if (!SETTABLE.has(name)) throw errors.invalidAttributeName(name);
      const range = RANGES[name];
      if (range) {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n < range[0] || n > range[1]) {
          throw errors.invalidAttributeValue(`Invalid value for the parameter ${name}.`);
        }
      }
      out[name] = name === 'RedrivePolicy' ? this.normalizeRedrivePolicy(value) : value;
    }
    return out;
  }

  private normalizeRedrivePolicy(value: string): string {
    if (value === '') return value;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw errors.invalidParameterValue(`Value ${value} for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map.`);
    }
    const policy = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
    const arn = policy.deadLetterTargetArn;
    const max = Number(policy.maxReceiveCount);
    if (typeof arn !== 'string' || !Number.isInteger(max) || max < 1 || max > 1000) {
      throw errors.invalidParameterValue(
        `Value ${value} for parameter RedrivePolicy is invalid. Reason: Redrive policy needs deadLetterTargetArn and maxReceiveCount (1-1000).`,
      );
    }
    if (!this.queues.has(this.nameOfArn(arn) ?? '')) {
      throw errors.invalidParameterValue(`Value ${value} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.`);
    }
    return JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: max });
  }

  private nameOfArn(arn: string): string | undefined {
    const prefix = `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:`;
    return arn.startsWith(prefix) ? arn.slice(prefix.length) : undefined;
  }

  private redrive(q: Queue): { target: string; maxReceiveCount: number } | undefined {
    const raw = q.attributes.RedrivePolicy;
    if (!raw) return undefined;
    const policy = JSON.parse(raw) as { deadLetterTargetArn: string; maxReceiveCount: number };
    const target = this.nameOfArn(policy.deadLetterTargetArn);
    return target === undefined ? undefined : { target, maxReceiveCount: policy.maxReceiveCount };
  }

  /** Creates a queue, or returns the existing one if its attributes match (AWS's idempotency rule). */
  createQueue(name: string, attributes: Record<string, string>): void {
    if (name.endsWith('.fifo')) throw errors.unsupportedOperation('FIFO queues are not supported by the local SQS emulator.');
    if (!QUEUE_NAME.test(name)) {
      throw errors.invalidParameterValue('Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length');
    }
    const wanted = this.validateAttributes(attributes, true);
    const existing = this.queues.get(name);
    if (existing) {
      for (const [key, value] of Object.entries(wanted)) {
        if ((existing.attributes[key] ?? DEFAULTS[key]) !== value) throw errors.queueNameExists(name);
      }
      return;
    }
    const now = this.now();
    this.write({ op: 'queue', name, attributes: wanted, created: now, modified: now });
  }

  /** Creates or reconfigures a queue from configuration, where a changed attribute is an update, not a conflict. */
  ensureQueue(spec: QueueSpec): void {
    if (this.queues.has(spec.name)) this.setAttributes(spec.name, spec.attributes ?? {});
    else this.createQueue(spec.name, spec.attributes ?? {});
  }

  private queue(name: string): Queue {
    const q = this.queues.get(name);
    if (!q) throw errors.queueDoesNotExist();
    return q;
  }

  has(name: string): boolean {
    return this.queues.has(name);
  }

  queueNames(): string[] {
    return [...this.queues.keys()].sort();
  }

  /** Names of the queues whose RedrivePolicy sends their dead letters to `name`, sorted. */
  deadLetterSources(name: string): string[] {
    this.queue(name);
    return this.queueNames().filter((source) => {
      const q = this.queues.get(source);
      return q !== undefined && this.redrive(q)?.target === name;
    });
  }

  setAttributes(name: string, attributes: Record<string, string>): void {
    const q = this.queue(name);
    const changes = this.validateAttributes(attributes, false);
    const merged = { ...q.attributes, ...changes };
    for (const [key, value] of Object.entries(changes)) if (value === '') delete merged[key];
    this.write({ op: 'queue', name, attributes: merged, created: q.created, modified: this.now() });
  }

  getAttributes(name: string, requested: string[]): Record<string, string> {
    const q = this.queue(name);
    const all = requested.includes('All');
    const names = all ? [...new Set([...Object.keys(DEFAULTS), ...Object.keys(q.attributes), ...COMPUTED])] : requested;
    const now = this.now();
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const m of q.messages.values()) {
      if (this.expired(q, m, now)) continue;
      if (m.visibleAt <= now) visible += 1;
      else if (m.receiveCount > 0) inFlight += 1;
      else delayed += 1;
    }
    const out: Record<string, string> = {};
    for (const attr of names) {
      const value =
        attr === 'ApproximateNumberOfMessages'
          ? String(visible)
          : attr === 'ApproximateNumberOfMessagesNotVisible'
            ? String(inFlight)
            : attr === 'ApproximateNumberOfMessagesDelayed'
              ? String(delayed)
              : attr === 'CreatedTimestamp'
                ? String(Math.floor(q.created / 1000))
                : attr === 'LastModifiedTimestamp'
                  ? String(Math.floor(q.modified / 1000))
                  : attr === 'QueueArn'
                    ? queueArn(q.name)
                    : (q.attributes[attr] ?? DEFAULTS[attr]);
      if (value !== undefined) out[attr] = value;
      else if (!SETTABLE.has(attr)) throw errors.invalidAttributeName(attr);
    }
    return out;
  }

  deleteQueue(name: string): void {
    this.queue(name);
    this.write({ op: 'deleteQueue', name });
  }

  purge(name: string): void {
    this.queue(name);
    this.write({ op: 'purge', queue: name });
  }

  /** Validates and enqueues one message; throws the error AWS would give for the whole request. */
  send(name: string, input: SendInput): StoredMessage {
    const q = this.queue(name);
    const attributes = input.attributes ?? {};
    this.validateMessage(q, input.body, attributes);
    const delay = input.delaySeconds ?? this.numberAttr(q, 'DelaySeconds');
    if (!Number.isInteger(delay) || delay < 0 || delay > 900) {
      throw errors.invalidParameterValue(`Value ${delay} for parameter DelaySeconds is invalid. Reason: must be between 0 and 900.`);
    }
    const now = this.now();
    const message: StoredMessage = {
      id: randomUUID(),
      body: input.body,
      md5: md5OfBody(input.body),
      attributes,
      senderId: input.senderId,
      sent: now,
      visibleAt: now + delay * 1000,
      receiveCount: 0,
    };
    if (input.traceHeader !== undefined) message.traceHeader = input.traceHeader;
    this.write({ op: 'message', queue: name, message });
    if (delay === 0) this.onReceivable(name);
    return message;
  }

  private validateMessage(q: Queue, body: string, attributes: Record<string, MessageAttributeValue>): void {
    if (body === '') throw errors.missingParameter('MessageBody');
    if (!VALID_TEXT.test(body)) throw errors.invalidMessageContents('Invalid binary character in message body.');
    const names = Object.keys(attributes);
    if (names.length > 10) {
      throw errors.invalidParameterValue(`Number of message attributes [${names.length}] exceeds the allowed maximum [10].`);
    }
    let size = Buffer.byteLength(body, 'utf8');
    for (const name of names) {
      const attr = attributes[name];
      if (attr === undefined) continue;
      if (!ATTRIBUTE_NAME.test(name)) throw errors.invalidParameterValue(`Message attribute name '${name}' is invalid.`);
      const type = attr.DataType ?? '';
      if (!/^(String|Number|Binary)(\..+)?$/.test(type)) {
        throw errors.invalidParameterValue(`The type of message (user) attribute '${name}' is invalid.`);
      }
      if (type.startsWith('Binary')) {
        if (attr.BinaryValue === undefined)
          throw errors.invalidParameterValue(`The message attribute '${name}' must contain a non-empty value of type 'Binary'.`);
      } else {
        const value = attr.StringValue;
        if (value === undefined || value === '') {
          throw errors.invalidParameterValue(`The message attribute '${name}' must contain a non-empty message attribute value.`);
        }
        if (!VALID_TEXT.test(value)) throw errors.invalidParameterValue(`The message attribute '${name}' contains invalid characters.`);
        if (type.startsWith('Number') && !Number.isFinite(Number(value))) {
          throw errors.invalidParameterValue(`Can't cast the value of message (user) attribute '${name}' to a number.`);
        }
      }
      size +=
        Buffer.byteLength(name) +
        Buffer.byteLength(type) +
        Buffer.byteLength(attr.StringValue ?? '') +
        Buffer.from(attr.BinaryValue ?? '', 'base64').length;
    }
    const max = this.numberAttr(q, 'MaximumMessageSize');
    if (size > max) {
      throw errors.invalidParameterValue(`One or more parameters are invalid. Reason: Message must be shorter than ${max} bytes.`);
    }
  }

  /**
   * Takes up to `max` receivable messages and hides them for `visibilitySeconds`; a message already received
   * maxReceiveCount times goes to the dead-letter queue instead, which is when AWS moves it too.
   */
  receive(name: string, max: number, visibilitySeconds: number | undefined): StoredMessage[] {
    const q = this.queue(name);
    const now = this.now();
    const visibility = visibilitySeconds ?? this.numberAttr(q, 'VisibilityTimeout');
    const redrive = this.redrive(q);
    const out: StoredMessage[] = [];
    for (const m of [...q.messages.values()]) {
      if (out.length >= max) break;
      if (m.visibleAt > now) continue;
      if (this.expired(q, m, now)) {
        this.write({ op: 'delete', queue: name, id: m.id });
        continue;
      }
      if (redrive && m.receiveCount >= redrive.maxReceiveCount && this.queues.has(redrive.target)) {
        this.write({ op: 'moveToDlq', queue: name, id: m.id, to: redrive.target });
        this.onReceivable(redrive.target);
        continue;
      }
      this.write({
        op: 'receive',
        queue: name,
        id: m.id,
        receipt: newReceipt(m.id),
        visibleAt: now + visibility * 1000,
        count: m.receiveCount + 1,
        first: m.firstReceive ?? now,
      });
      out.push(m);
    }
    return out;
  }

  private inQueueByReceipt(q: Queue, handle: string): StoredMessage | undefined {
    const id = messageIdOfReceipt(handle);
    if (id === undefined) throw errors.receiptHandleIsInvalid(handle);
    return q.messages.get(id);
  }

  /**
   * Deletes the message if `handle` is its latest receipt handle. A handle of a message that is gone, or one
   * superseded by a later receive, succeeds without effect: AWS documents exactly that leniency.
   */
  delete(name: string, handle: string): void {
    const q = this.queue(name);
    const m = this.inQueueByReceipt(q, handle);
    if (m && m.receipt === handle) this.write({ op: 'delete', queue: name, id: m.id });
  }

  /** Restarts the message's visibility timeout from now; 0 makes it receivable at once. */
  changeVisibility(name: string, handle: string, seconds: number): void {
    const q = this.queue(name);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43200) {
      throw errors.invalidParameterValue(`Value ${seconds} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.`);
    }
    const m = this.inQueueByReceipt(q, handle);
    if (!m || m.receipt !== handle) {
      throw errors.invalidParameterValue(`Value ${handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.`);
    }
    const now = this.now();
    if (m.visibleAt <= now) throw errors.messageNotInflight();
    this.write({ op: 'visibility', queue: name, id: m.id, visibleAt: now + seconds * 1000 });
    if (seconds === 0) this.onReceivable(name);
  }

  /** Earliest future instant at which a hidden message of the queue becomes receivable, for long-poll timers. */
  nextVisibleAt(name: string): number | undefined {
    const q = this.queues.get(name);
    if (!q) return undefined;
    const now = this.now();
    let next: number | undefined;
    for (const m of q.messages.values()) {
      if (m.visibleAt > now && (next === undefined || m.visibleAt < next)) next = m.visibleAt;
    }
    return next;
  }

  /** Default long-poll wait of the queue (ReceiveMessageWaitTimeSeconds). */
  defaultWaitSeconds(name: string): number {
    return this.numberAttr(this.queue(name), 'ReceiveMessageWaitTimeSeconds');
  }
}
