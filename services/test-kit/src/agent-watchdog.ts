import { readFileSync } from 'node:fs';

/**
 * Not pure. Stops the watchdog processes a site agent started (issue 17): an agent prints
 * `watchdog pid N` when it starts one, and the watchdog runs detached so that it outlives the
 * agent, so stopping the agent leaves it running until the lease it watches has lapsed (and it
 * would then fence the agent's primaries). A test that ends calls this with every agent output
 * it has, after stopping the agents. Only a live process whose command line names the watchdog
 * is killed (SIGKILL, as a test ends: no fence); resolves once each is gone.
 */
export async function stopAgentWatchdogs(agentOutput: string): Promise<number[]> {
  const pids = [...new Set([...agentOutput.matchAll(/watchdog pid (\d+)/g)].map((m) => Number(m[1])))];
  const isWatchdog = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('watchdog');
    } catch {
      return false;
    }
  };
  const killed: number[] = [];
  for (const pid of pids) {
    if (!isWatchdog(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      /* gone meanwhile */
    }
  }
  const deadline = Date.now() + 5000;
  while (killed.some((pid) => isWatchdog(pid) && !/^State:\s+Z/m.test(readStatus(pid))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return killed;
}

function readStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}
