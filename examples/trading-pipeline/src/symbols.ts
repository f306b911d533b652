/** The symbols the demo trades and their starting mid prices. */
export const SYMBOLS: Readonly<Record<string, number>> = {
  ACME: 101.5,
  GLOBX: 47.2,
  INITECH: 12.9,
  UMBR: 230.0,
  WAYNE: 88.8,
};
