package service

import "testing"

// TestDecodeStrict: exact field names, once each, one object, bounded
// depth.
func TestDecodeStrict(t *testing.T) {
	type inner struct {
		Tag string
	}
	type msg struct {
		Name  string  `json:"name"`
		Lines []inner `json:"lines,omitempty"`
		Skip  string  `json:"-"`
	}
	for _, c := range []struct {
		in string
		ok bool
	}{
		{`{"name":"a","lines":[{"Tag":"x"}]}`, true},
		{` {"name":"a"} `, true},
		{`{}`, true},
		{`{"Name":"a"}`, false},
		{`{"name":"a","name":"b"}`, false},
		{`{"lines":[{"Tag":"x","Tag":"y"}]}`, false},
		{`{"lines":[{"tag":"x"}]}`, false},
		{`{"Skip":"x"}`, false},
		{`{"-":"x"}`, false},
		{`{"name":"a"}{}`, false},
		{`{"name":"a"} x`, false},
		{`[]`, false},
		{`null`, false},
		{``, false},
		{`{"name":{"a":1}}`, false},
		{`{"lines":{}}`, false},
		{`{"name":1}`, false},
	} {
		var m msg
		err := decodeStrict([]byte(c.in), &m)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok %v", c.in, err, c.ok)
		}
	}
}
