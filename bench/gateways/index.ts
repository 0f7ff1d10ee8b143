/** Every gateway the bench knows, in the order it runs them (the bar, nginx, first). */
import { apache } from './apache.ts';
import { caddy } from './caddy.ts';
import { lighttpd } from './lighttpd.ts';
import { nginx, nginxNoKeep } from './nginx.ts';
import { portico, porticoWorkers } from './portico.ts';
import type { Gateway } from './types.ts';

export const GATEWAYS: readonly Gateway[] = [
  nginx,
  nginxNoKeep,
  portico,
  porticoWorkers,
  apache,
  lighttpd,
  caddy,
];
