// After `vite build`: writes <file>.br (brotli, quality 11) and <file>.gz (gzip -9) next to every
// text asset of dist/ bigger than 1 KiB, so iotad sends them precompressed to browsers that
// accept them (Accept-Encoding) at no CPU cost per request. Prints the totals.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const dist = new URL('../dist/', import.meta.url).pathname;
const TEXT = /\.(js|css|html|svg|json|txt|map)$/;
let raw = 0, gz = 0, br = 0, files = 0;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (TEXT.test(name) && statSync(path).size > 1024) {
      const data = readFileSync(path);
      const g = gzipSync(data, { level: 9 });
      const b = brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } });
      writeFileSync(`${path}.gz`, g);
      writeFileSync(`${path}.br`, b);
      raw += data.length;
      gz += g.length;
      br += b.length;
      files++;
    }
  }
}

walk(dist);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(`precompressed ${files} files: ${kb(raw)} -> gzip ${kb(gz)}, brotli ${kb(br)}`);
