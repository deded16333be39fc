// "1 file", "2,400 files": how every count in a card, a verdict or a summary is written.
export const plural = (n: number, one: string, many = `${one}s`): string => `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
