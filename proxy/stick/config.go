package stick

import "moonbus/config"

// FromConfig builds the table declared by a proxy's stick-table line; name
// is the proxy's name (tables are referenced by it).
func FromConfig(name string, st *config.StickTable) (*Table, error) {
	spec := Spec{Type: st.Type, Len: st.Len, Size: st.Size, Expire: st.Expire, NoPurge: st.NoPurge}
	for _, it := range st.Store {
		spec.Store = append(spec.Store, StoreItem{Name: it.Name, Period: it.Period, Count: it.Count})
	}
	return New(name, spec)
}
