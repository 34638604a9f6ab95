// Worker process of the data set generator: writes its share of the files (see bench/generate.ts).
import { register } from 'tsx/esm/api';

register();
const { runWorker } = await import('./generate.ts');
await runWorker(process.argv.slice(2));
