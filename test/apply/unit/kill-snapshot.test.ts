/**
 * The e2e tests' SIGKILL records the TCP ports the process held (fixtures/kill-snapshot.ts): the judge
 * excuses a cut handshake only by its source port, so the record must hold the ports of live connections,
 * including one the server has not even accepted yet.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import t from 'tap';
import { killRecording } from '../e2e/fixtures/kill-snapshot.js';

t.test('the ports of every connection the process held, then SIGKILL', async (t) => {
  const server = net.createServer((s) => s.on('error', () => {}));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const remotes: number[] = [];
  server.on('connection', (s) => remotes.push(s.remotePort!));
  // Two connections; the child says which local ports it got.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const net=require('net');let n=0;const ps=[];` +
        `for(let i=0;i<2;i++){const s=net.connect(${port},'127.0.0.1',()=>{` +
        `ps.push(s.localPort);if(++n===2)console.log(JSON.stringify(ps))});}` +
        `setInterval(()=>{},1000)`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const local = (JSON.parse(line.toString()) as number[]).sort((a, b) => a - b);
  const exited = once(child, 'exit');
  const record = killRecording(child.pid!, (sig) => child.kill(sig));
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  t.equal(signal, 'SIGKILL', 'killed');
  t.equal(code, null);
  t.not(record.ports, null, '/proc was readable');
  for (const p of local) t.ok(record.ports!.includes(p), `port ${p} recorded`);
  t.notOk(record.ports!.includes(port), 'not the server port (a connection of its own would be local)');
  t.ok(record.at <= Date.now());
});

t.test('a process that is already gone is still killed without throwing', async (t) => {
  const child = spawn(process.execPath, ['-e', '0']);
  await once(child, 'exit');
  const record = killRecording(child.pid!, (sig) => child.kill(sig));
  t.equal(record.ports, null, 'nothing to read');
});
