// htm bound to Preact's h: the pages write markup as tagged templates, no JSX build step.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
export const short = (hex: string | undefined): string => (hex ? `${hex.slice(0, 8)}…` : '?');
