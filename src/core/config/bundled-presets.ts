// The presets shipped with the runtime, bundled into dist/*.js by esbuild's JSON loader (contracts §2).
import presetsJson from '../../../runtime/spikestudio/presets/presets.json';
import type { PresetTable } from './presets';

export const BUNDLED_PRESETS: PresetTable = presetsJson as unknown as PresetTable;
