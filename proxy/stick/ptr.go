package stick

import "unsafe"

// ptrOf returns the address of e, used only as the entry's identity in
// "show table" lines (HAProxy prints its internal pointer there).
func ptrOf(e *Entry) uintptr { return uintptr(unsafe.Pointer(e)) }
