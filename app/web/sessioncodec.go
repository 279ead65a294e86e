package web

import (
	"encoding/json"
	"fmt"
)

// sessionJSON serializes session values for securecookie. The session holds
// only strings, booleans and lists of strings (flash messages); gob, the
// default, builds a new decoder for every cookie and cost more CPU than
// rendering the page.
type sessionJSON struct{}

func (sessionJSON) Serialize(src any) ([]byte, error) {
	values, ok := src.(map[any]any)
	if !ok {
		return nil, fmt.Errorf("session values are %T", src)
	}
	m := make(map[string]any, len(values))
	for k, v := range values {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("session key %v is not a string", k)
		}
		switch v.(type) {
		case string, bool, []any:
		default:
			return nil, fmt.Errorf("session value %q is a %T", key, v)
		}
		m[key] = v
	}
	return json.Marshal(m)
}

func (sessionJSON) Deserialize(src []byte, dst any) error {
	values, ok := dst.(*map[any]any)
	if !ok {
		return fmt.Errorf("session destination is %T", dst)
	}
	var m map[string]any
	if err := json.Unmarshal(src, &m); err != nil {
		return err
	}
	if *values == nil {
		*values = make(map[any]any, len(m))
	}
	for k, v := range m {
		(*values)[k] = v
	}
	return nil
}
