import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** CPU seconds of one process and of each of its threads, from /proc (Linux only). */
interface ProcSample {
  cpuS: number;
  threads: Map<string, { name: string; cpuS: number }>;
}

export interface CpuThreadGroup {
  name: string;
  threads: number;
  cpuS: number;
}

export interface CpuProcess {
  label: string;
  pid: number;
  cpuS: number;
  /** Threads grouped by name (`comm`); CPU of threads that ended during the window is in `cpuS` only. */
  threads: CpuThreadGroup[];
}

/** Where the machine's core-seconds went during a run: the service, the load generator, everything else. */
export interface CpuBudget {
  wallS: number;
  cores: number;
  /** Busy core-seconds of the whole machine (every process, other users' included). */
  machineBusyS: number;
  processes: CpuProcess[];
  loadavg: { start: string; end: string };
}

let tick: number | undefined;
const clockTick = (): number => {
  if (tick === undefined) {
    try {
      tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      tick = 100;
    }
  }
  return tick;
};

/** utime + stime of a /proc stat line, in seconds; the command name may hold spaces and parentheses. */
function statCpuS(text: string): number {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / clockTick();
}

function sampleProc(pid: number): ProcSample | undefined {
  try {
    const cpuS = statCpuS(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const threads = new Map<string, { name: string; cpuS: number }>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        threads.set(tid, { name, cpuS: statCpuS(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')) });
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    return { cpuS, threads };
  } catch {
    return undefined;
  }
}

function machineBusyS(): number {
  const [, ...fields] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  const n = fields.map(Number);
  const idle = (n[3] ?? 0) + (n[4] ?? 0);
  return (n.reduce((a, b) => a + b, 0) - idle) / clockTick();
}

/** The pid of the serverless-offline process serving `port`, found by its command line. */
export function findOfflinePid(port: number): number | undefined {
  if (!existsSync('/proc')) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(path.join('/proc', entry, 'cmdline'), 'utf8').split('\0');
      const at = argv.indexOf('--httpPort');
      if (argv.some((a) => a.endsWith('serverless.js')) && argv.includes('offline') && at >= 0 && argv[at + 1] === String(port)) return Number(entry);
    } catch {
      // Gone, or not ours to read.
    }
  }
  return undefined;
}

/** Starts measuring; `stop()` returns the budget of the window. Inert (undefined) where /proc is missing. */
export function startCpuBudget(targets: () => Array<{ label: string; pid: number | undefined }>, cores: number): { stop(): CpuBudget } | undefined {
  if (!existsSync('/proc/stat')) return undefined;
  const t0 = performance.now();
  const busy0 = machineBusyS();
  const load0 = readFileSync('/proc/loadavg', 'utf8').trim();
  const start = new Map<number, ProcSample>();
  const last = new Map<number, ProcSample>();
  // Sampled every 250 ms, not only at both ends: a process that starts late (Locust) is measured from its first
  // sighting, and one that has exited (and been reaped) by the end keeps its last sample.
  const look = () => {
    for (const t of targets()) {
      if (t.pid === undefined) continue;
      const s = sampleProc(t.pid);
      if (!s) continue;
      if (!start.has(t.pid)) start.set(t.pid, s);
      last.set(t.pid, s);
    }
  };
  look();
  const timer = setInterval(look, 250);
  timer.unref();
  return {
    stop(): CpuBudget {
      clearInterval(timer);
      look();
      const processes: CpuProcess[] = [];
      for (const t of targets()) {
        if (t.pid === undefined) continue;
        const end = last.get(t.pid);
        const was0 = start.get(t.pid);
        if (!end || !was0) continue;
        const groups = new Map<string, CpuThreadGroup>();
        for (const [tid, th] of end.threads) {
          const was = was0.threads.get(tid)?.cpuS ?? 0;
          const used = th.cpuS - was;
          // Node names none of its threads: the main one serves HTTP and runs the handlers, and a busy one of the rest
          // (an inference worker) gets its own row; the others are summed by name.
          const name =
            tid === String(t.pid)
              ? `${th.name} (main)`
              : used >= 0.1 * (end.cpuS - was0.cpuS)
                ? `${th.name} tid ${tid}`
                : th.name.replace(/\d+$/, '#');
          const g = groups.get(name) ?? { name, threads: 0, cpuS: 0 };
          g.threads++;
          g.cpuS += used;
          groups.set(name, g);
        }
        processes.push({ label: t.label, pid: t.pid, cpuS: end.cpuS - was0.cpuS, threads: [...groups.values()].sort((a, b) => b.cpuS - a.cpuS) });
      }
      return {
        wallS: (performance.now() - t0) / 1000,
        cores,
        machineBusyS: machineBusyS() - busy0,
        processes,
        loadavg: { start: load0, end: readFileSync('/proc/loadavg', 'utf8').trim() },
      };
    },
  };
}
