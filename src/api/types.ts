import type { NetworkDriverInfo } from '../network/driver.js';
import type { PortDriverInfo } from '../port/types.js';
import type { ReverseStatus } from '../port/reverse.js';
import type { ReverseSpec } from '../port/reverse-spec.js';
import type { ReverseStats } from '../port/stats.js';

/** RootlessKit REST API version these shapes follow. */
export const API_VERSION = '1.1.1';


/** `GET /v1/info`. */
export interface ApiInfo {
  apiVersion: string;
  version: string;
  stateDir: string;
  childPID: number;
  networkDriver?: NetworkDriverInfo;
  portDriver?: PortDriverInfo;
}

/** What the API server needs for reverse ports (nsgate's /v1/reverse-ports). */
export interface ReverseService {
  list(): ReverseStatus[];
  add(spec: ReverseSpec): Promise<ReverseStatus>;
  remove(id: number): Promise<void>;
  stats(): Promise<Map<number, ReverseStats>>;
}
