package sample

import "unsafe"

// noescape hides p from escape analysis so that samples living on an
// evaluator's stack are not moved to the heap just because they are passed
// to fetch and converter functions through function values. It is sound
// because of the FetchFunc/ConvFunc contract: a function never keeps the
// *Sample it is given after it returns.
//
//go:nosplit
func noescape(p *Sample) *Sample {
	x := uintptr(unsafe.Pointer(p))
	return (*Sample)(unsafe.Add(nil, x))
}
