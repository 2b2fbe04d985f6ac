// The desired state of a full rotation on a lab: the lab's rotate.yaml with two new CAs (made by the CLI
// through `caNew`, which runs `rotate ca new ... --json` and returns its stdout) issuing, nothing else
// accepted, and the lab's old authorities kept without keys. Written to DIR/full.yaml; returns its path.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseDocument } from 'yaml';

export async function writeFullRotationDesired(dir, caNew) {
  const cas = {};
  for (const [api, name] of [
    ['talos', 'talos-next'],
    ['kubernetes', 'kubernetes-next'],
  ]) {
    const made = JSON.parse(
      await caNew(['ca', 'new', '--api', api, '--name', name, '--dir', join(dir, 'pki'), '--json']),
    );
    cas[api] = { name, certificate: relative(dir, made.certificate), key: relative(dir, made.key) };
  }
  const doc = parseDocument(readFileSync(join(dir, 'rotate.yaml'), 'utf8'));
  for (const api of ['talos', 'kubernetes']) {
    doc.setIn([api, 'issuing'], cas[api].name);
    doc.setIn(
      ['authorities', cas[api].name],
      doc.createNode({ certificate: cas[api].certificate, key: { file: cas[api].key } }),
    );
  }
  for (const old of ['talos-lab', 'kubernetes-lab']) doc.deleteIn(['authorities', old, 'key']);
  const full = join(dir, 'full.yaml');
  writeFileSync(full, doc.toString({ lineWidth: 0 }));
  return full;
}
