// When div and idiv raise #DE (SDM vol. 2, DIV and IDIV): a divisor of 0, or a quotient that does
// not fit the destination (AL, AX, EAX, RAX). Known before the instruction runs, from the
// registers and the divisor: the recorder then foresees the exception's handler and frame.

/** #DE, the divide error. */
export const DE_VECTOR = 0;

export interface Division {
  signed: boolean;
  /** The divisor's size, and the quotient's: the dividend is twice as wide. */
  bytes: 1 | 2 | 4 | 8;
  /** AX, DX:AX, EDX:EAX or RDX:RAX, as an unsigned number of 2 × bytes × 8 bits. */
  dividend: bigint;
}

/** Whether dividing `d`'s dividend by `divisor` (the operand's bits, unsigned) raises #DE. */
export function divideErrors(d: Division, divisor: bigint): boolean {
  const bits = d.bytes * 8;
  const by = BigInt.asUintN(bits, divisor);
  if (by === 0n) return true;
  if (!d.signed) return BigInt.asUintN(2 * bits, d.dividend) / by >= 1n << BigInt(bits);
  // BigInt division truncates toward zero, as idiv does.
  const q = BigInt.asIntN(2 * bits, d.dividend) / BigInt.asIntN(bits, by);
  return q < -(1n << BigInt(bits - 1)) || q >= 1n << BigInt(bits - 1);
}

/** The dividend of a division of `bytes`-sized operands, from RAX and RDX. */
export function dividendOf(bytes: 1 | 2 | 4 | 8, rax: bigint, rdx: bigint): bigint {
  if (bytes === 1) return BigInt.asUintN(16, rax);
  const bits = BigInt(bytes * 8);
  return (BigInt.asUintN(Number(bits), rdx) << bits) | BigInt.asUintN(Number(bits), rax);
}
