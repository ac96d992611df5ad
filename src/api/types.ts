import type { NetworkDriverInfo } from '../network/driver.js';
import type { PortDriverInfo } from '../port/types.js';

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
