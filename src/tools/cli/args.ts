// The command lines of the repo's CLIs and benches: node:util's parseArgs, strict, and one answer to a line that
// does not parse: the reason and the usage on stderr, exit code 2 (1 stays for a run that failed).
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A command line its program cannot run; the message ends with the usage. */
export class UsageError extends Error {}

// By its code, not instanceof: node's errors come from another realm under jest.
const isParseArgsError = (err: unknown): err is Error =>
  typeof err === 'object' && err !== null && String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_');

/** parseArgs, strict: an unknown flag, a flag without its value or a positional not allowed is a UsageError. */
export function parseFlags<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs<T>({ strict: true, ...config });
  } catch (err: unknown) {
    if (isParseArgsError(err)) throw new UsageError(`${err.message}\n${usage}`);
    throw err;
  }
}

/**
 * For a script that reads its flags before it starts anything: --help (-h) prints the usage and exits 0, a line
 * that does not parse exits 2 right there.
 */
export function flagsOrExit<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    const parsed = parseFlags({ ...config, options: { ...config.options, help: { type: 'boolean', short: 'h' } } }, usage);
    if ((parsed.values as { help?: boolean }).help) {
      console.log(usage);
      process.exit(0);
    }
    return parsed as unknown as ReturnType<typeof parseArgs<T>>;
  } catch (err: unknown) {
    if (!(err instanceof UsageError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}

/** Runs a program's main: the exit code it returns, or 2 with the message on `err` when it refused its command line. */
export async function exitCodeOf(main: () => Promise<number>, err: (line: string) => void = console.error): Promise<number> {
  try {
    return await main();
  } catch (e: unknown) {
    if (!(e instanceof UsageError)) throw e;
    err(e.message);
    return 2;
  }
}
