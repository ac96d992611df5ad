import type { PortDriverInfo, PortSpec, PortStatus } from '../port/types.js';

/** RootlessKit REST API version these shapes follow. */
export const API_VERSION = '1.1.1';

/** `networkDriver` of `GET /v1/info`. */
export interface NetworkDriverInfo {
  driver: string;
  dns?: string[];
  childIP?: string;
  dynamicChildIP?: boolean;
}

/** `GET /v1/info`. */
export interface ApiInfo {
  apiVersion: string;
  version: string;
  stateDir: string;
  childPID: number;
  networkDriver?: NetworkDriverInfo;
  portDriver?: PortDriverInfo;
}

/** What the API server needs from the port manager. */
export interface PortService {
  list(): PortStatus[];
  add(spec: PortSpec): Promise<PortStatus>;
  remove(id: number): Promise<void>;
}
