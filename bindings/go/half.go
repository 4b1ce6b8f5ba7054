package mml

import "math"

// BFloat16 is a bfloat16 score as its raw 16 bits (the top half of a float32), the storage type
// of mixed-precision logits. mml widens it to float32 exactly, computes in float32, and returns
// the loss in float32; the gradient is float32 or, into a []BFloat16, rounded to nearest even.
type BFloat16 uint16

// Float16 is an IEEE 754 binary16 (half precision) score as its raw 16 bits; mml treats it as
// BFloat16 (widened to float32 exactly, the gradient float32 or rounded to nearest even).
type Float16 uint16

// Float32 widens b exactly.
func (b BFloat16) Float32() float32 { return math.Float32frombits(uint32(b) << 16) }

// BFloat16FromFloat32 rounds f to the nearest bfloat16, ties to even (PyTorch's rounding; every
// NaN becomes 0x7FC0).
func BFloat16FromFloat32(f float32) BFloat16 {
	u := math.Float32bits(f)
	if u&0x7FFFFFFF > 0x7F800000 {
		return 0x7FC0
	}
	return BFloat16((u + 0x7FFF + (u>>16)&1) >> 16)
}

// Float32 widens h exactly (subnormals included).
func (h Float16) Float32() float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1F
	man := uint32(h) & 0x3FF
	switch {
	case exp == 0x1F:
		return math.Float32frombits(sign | 0x7F800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	}
	m := float32(man) * 0x1p-24 // zero or a subnormal: exact in float32
	if sign != 0 {
		return -m
	}
	return m
}

// Float16FromFloat32 rounds f to the nearest float16, ties to even: overflow gives an infinity,
// tiny values a subnormal or a signed zero, a NaN sign|0x7E00 (PyTorch's rounding).
func Float16FromFloat32(f float32) Float16 {
	u := math.Float32bits(f)
	sign := Float16(u>>16) & 0x8000
	a := u & 0x7FFFFFFF
	switch {
	case a > 0x7F800000:
		return sign | 0x7E00
	case a >= 0x47800000: // 65536 and above, infinity included
		return sign | 0x7C00
	case a < 0x38800000: // below 2^-14: a subnormal or zero, in units of 2^-24
		exp := a >> 23
		if exp < 102 {
			return sign
		}
		man := a&0x7FFFFF | 0x800000
		shift := 126 - exp
		half := man >> shift
		rest := man & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rest > mid || rest == mid && half&1 == 1 {
			half++
		}
		return sign | Float16(half)
	}
	r := a - 112<<23
	return sign | Float16((r+0xFFF+(r>>13)&1)>>13)
}
