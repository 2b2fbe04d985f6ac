/**
 * The crash tests' flake, reproduced on purpose: a client is killed right after its ClientHello while the
 * lab (sharing the CPU) is busy, so the lab accepts the connection only after the kill, then reads the
 * ClientHello and end-of-stream and counts an operator → apid refusal by the client. The accept time says
 * "opened after the kill", so a rule built on it fails the run; the source port, matched against the ports
 * the process held when it was stopped, names it as the killed process's own cut handshake.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { killRecording } from '../e2e/fixtures/kill-snapshot.js';
import { cutByKill } from '../e2e/fixtures/ledger.js';
import { eventually, startTestLab } from '../../lab/talos/fixtures/lab.js';

t.test('a handshake cut by a kill the lab only saw afterwards is excused by its port alone', async (t) => {
  const lab = await startTestLab({ controlPlanes: 1, workers: 0, style: 'document' });
  t.teardown(() => lab.stop());
  const dir = mkdtempSync(path.join(tmpdir(), 'kill-cut-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sent = path.join(dir, 'sent');
  const cp = lab.cps[0]!;
  const from = lab.cluster.ledger.snapshot().trustFailureLog.length;

  const child = spawn(
    process.execPath,
    [
      '-e',
      // The ClientHello is written when the TCP connection is up; a tick later the file says so.
      `const tls=require('tls'),fs=require('fs');const s=tls.connect({host:${JSON.stringify(cp)},port:50000,` +
        `rejectUnauthorized:true,ALPNProtocols:['h2']});s.on('error',()=>{});` +
        `s.once('connect',()=>setImmediate(()=>fs.writeFileSync(${JSON.stringify(sent)},'')));` +
        `setInterval(()=>{},1000)`,
    ],
    { stdio: 'ignore' },
  );
  const exited = once(child, 'exit');
  // Block this process (the lab's event loop) from before the connection is made until after the kill.
  const until = Date.now() + 10_000;
  while (!existsSync(sent) && Date.now() < until);
  t.ok(existsSync(sent), 'the child sent its ClientHello');
  const record = killRecording(child.pid!, (sig) => child.kill(sig));
  const busy = Date.now() + 30;
  while (Date.now() < busy);
  await exited;

  const entries = () =>
    lab.cluster.ledger
      .snapshot()
      .trustFailureLog.slice(from)
      .filter((e) => e.edge === 'operator-apid' && e.to === cp);
  await eventually(() => entries().length > 0, 5_000, 'the cut handshake to be counted');
  const [e] = entries();
  t.equal(e!.refusedBy, 'client', 'counted as a refusal by the client (the wire cannot tell)');
  t.ok(Date.parse(e!.openedAt!) > record.at, 'the lab accepted the connection only after the kill');
  t.ok(cutByKill(e!, [record]), 'excused: its source port was held by the killed process');
  t.notOk(cutByKill(e!, [{ at: record.at, ports: null }]), 'the accept time alone would have failed the run');
  t.notOk(cutByKill(e!, [{ at: record.at, ports: [] }]), 'never excused for a process that held no such port');
});
