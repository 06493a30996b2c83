"""Division by an elaboration-time constant, as a multiply and a shift."""

__all__ = ["div_const"]


def div_const(value, divisor, bits):
    """``(value // divisor, value % divisor)`` for an unsigned ``value`` of ``bits``
    bits, by a multiply and shift (exact over the whole range, checked here at
    elaboration; a power of two is a shift). The bank grid is 3 x 3 in the
    product configuration, so positions and groups divide by 3 and 9."""
    if divisor & (divisor - 1) == 0:
        shift = divisor.bit_length() - 1
        return value >> shift, value & (divisor - 1)
    for n in range(bits, 2 * bits + 8):
        mult = -(-(1 << n) // divisor)
        if all((v * mult) >> n == v // divisor for v in range(1 << bits)):
            break
    else:
        raise ValueError(f"no exact multiply for division by {divisor} over {bits} bits")
    quotient = (value * mult) >> n
    return quotient, (value - quotient * divisor).as_unsigned()
