// CPace-X25519-SHA512 against the CFRG draft's vectors (test/vectors/data/cpace): LEB128 length
// prefixes, the generator from the password, both shares, the shared point, ISK, and the
// low-order points every implementation must refuse.
import t from 'tap';
import { calculateGenerator, cpaceIsk, cpaceSecret, cpaceShare, generatorString, prependLen } from '../../cluster/pairing/cpace.js';
import { hex, readJsonVector, readVector } from '../helpers/vectors.js';

const toHex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'undefined');
const v = readJsonVector<Record<string, Record<string, string>>>('cpace/testvectors.json');
const g25519 = v['G_25519']!;

t.test('prepend_len (LEB128)', async (t) => {
  t.equal(toHex(prependLen(new Uint8Array())), '00');
  t.equal(toHex(prependLen(new TextEncoder().encode('1234'))), '0431323334');
  t.equal(toHex(prependLen(Uint8Array.from({ length: 127 }, (_, i) => i))).slice(0, 4), '7f00');
  t.equal(toHex(prependLen(Uint8Array.from({ length: 128 }, (_, i) => i))).slice(0, 6), '800100');
});

t.test('G_25519 (testvectors.json): generator, shares, K, ISK', async (t) => {
  const g = calculateGenerator(hex(g25519['PRS']!), hex(g25519['CI']!), hex(g25519['sid']!));
  t.equal(toHex(g), g25519['g']!.toLowerCase(), 'g');
  const ya = cpaceShare(hex(g25519['ya']!), g);
  const yb = cpaceShare(hex(g25519['yb']!), g);
  t.equal(toHex(ya), g25519['Ya']!.toLowerCase(), 'Ya');
  t.equal(toHex(yb), g25519['Yb']!.toLowerCase(), 'Yb');
  const ka = cpaceSecret(hex(g25519['ya']!), yb);
  const kb = cpaceSecret(hex(g25519['yb']!), ya);
  t.equal(toHex(ka), g25519['K']!.toLowerCase(), 'K from A');
  t.equal(toHex(kb), g25519['K']!.toLowerCase(), 'K from B');
  const isk = cpaceIsk(hex(g25519['sid']!), ka!, ya, hex(g25519['ADa']!), yb, hex(g25519['ADb']!));
  t.equal(toHex(isk), g25519['ISK_IR']!.toLowerCase(), 'ISK (initiator-responder)');
});

t.test('testvectors.md: the generator string and g for PRS "Password", CI oc-ordered', async (t) => {
  const md = readVector('cpace/testvectors.md');
  const section = md.slice(md.indexOf('Test vectors for calculate\\_generator with group X25519'));
  const block = (label: string) => {
    const i = section.indexOf(label);
    const lines = section.slice(i).split('\n').slice(1);
    let out = '';
    for (const l of lines) {
      if (/^\s+\(length: \d+ bytes\)$/.test(l)) continue;
      if (!/^\s+[0-9a-f]+$/.test(l)) break;
      out += l.trim();
    }
    return out;
  };
  const prs = new TextEncoder().encode('Password');
  const ci = hex('6f630b425f726573706f6e6465720b415f696e69746961746f72');
  const sid = hex('7e4b4791d6a8ef019b936c79fb7f2c57');
  t.equal(toHex(generatorString(prs, ci, sid)), block('generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes):'), 'generator_string (172 bytes, ZPAD 109)');
  t.equal(toHex(calculateGenerator(prs, ci, sid)), block('generator g:'), 'g');
});

t.test('low-order points: the abort case', async (t) => {
  const s = hex('af46e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449aff');
  const pts = v['X25519_points']!;
  // u0..u5 and u7 must abort; the others (non-canonical encodings) give a point.
  const abort = new Set(['Invalid Y0', 'Invalid Y1', 'Invalid Y2', 'Invalid Y3', 'Invalid Y4', 'Invalid Y5', 'Invalid Y7']);
  for (const [name, u] of Object.entries(pts)) {
    const k = cpaceSecret(s, hex(u));
    if (abort.has(name)) t.equal(k, undefined, `${name} aborts`);
    else t.ok(k !== undefined, `${name} gives a point`);
  }
  t.equal(cpaceSecret(s, new Uint8Array(31)), undefined, 'a share of the wrong length aborts');
});
