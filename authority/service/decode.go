package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/airlock-dev/airlock/codes/api"
)

// maxDepth bounds the nesting of a request's JSON: the deepest message is
// an object holding an array of objects (3).
const maxDepth = 8

// checkPost refuses a request that is not a POST of JSON.
func checkPost(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return &apiError{http.StatusMethodNotAllowed, api.CodeMethod, fmt.Sprintf("%s takes POST, not %s", r.URL.Path, clean(r.Method)), nil, 0}
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == api.ContentType {
		for k, v := range params {
			if k != "charset" || !strings.EqualFold(v, "utf-8") {
				err = errors.New("unexpected parameter")
			}
		}
	}
	if err != nil || mt != api.ContentType {
		return &apiError{http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("the body must be %s, not %q", api.ContentType, clean(ct)), nil, 0}
	}
	return nil
}

// readBody reads the whole body, at most limit bytes (api.MaxBody, or
// api.MaxSyncBody for sync files).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	tooLarge := &apiError{http.StatusRequestEntityTooLarge, api.CodeTooLarge, fmt.Sprintf("the body is larger than %d bytes", limit), nil, 0}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return nil, tooLarge
	case err != nil:
		return nil, &apiError{http.StatusBadRequest, api.CodeBadRequest, "reading the body: " + clean(err.Error()), err, 0}
	}
	return b, nil
}

// decodeStrict decodes body, one JSON object, into v (a pointer to a
// struct): its keys must be v's fields spelled exactly as their json tags
// (encoding/json alone would take "TOKEN" for "token"), none twice at any
// level, nothing unknown, nothing after the object, at most maxDepth
// levels deep.
func decodeStrict(body []byte, v any) error {
	t := reflect.TypeOf(v).Elem()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := checkValue(dec, t, 1, true); err != nil {
		return badRequest("the body is not the JSON this path takes: " + clean(err.Error()))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the body holds more than one JSON value")
	}
	strict := json.NewDecoder(bytes.NewReader(body))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return badRequest("the body is not the JSON this path takes: " + clean(err.Error()))
	}
	return nil
}

// decodeEmpty accepts an empty body or an empty object.
func decodeEmpty(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeStrict(body, &struct{}{})
}

// checkValue reads the next value from dec and checks it against t.
// top requires an object.
func checkValue(dec *json.Decoder, t reflect.Type, depth int, top bool) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return errors.New("empty body")
		}
		return err
	}
	d, isDelim := tok.(json.Delim)
	if top && d != '{' {
		return errors.New("want a JSON object")
	}
	if !isDelim {
		return nil // a scalar: its type is checked when decoding
	}
	switch d {
	case '{':
		if t.Kind() != reflect.Struct {
			return fmt.Errorf("an object where %s goes", kindName(t))
		}
		fields := jsonFields(t)
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key := k.(string) // object keys are strings, or Token fails
			f, ok := fields[key]
			if !ok {
				return fmt.Errorf("unknown field %q", key)
			}
			if seen[key] {
				return fmt.Errorf("field %q given twice", key)
			}
			seen[key] = true
			if err := checkValue(dec, f, depth+1, false); err != nil {
				return err
			}
		}
	case '[':
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return fmt.Errorf("an array where %s goes", kindName(t))
		}
		for dec.More() {
			if err := checkValue(dec, t.Elem(), depth+1, false); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func kindName(t reflect.Type) string {
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return "base64 text"
	}
	return "a " + t.Kind().String()
}

// jsonFields returns the JSON names of a struct's exported fields and
// their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// encodeJSON encodes an answer, without HTML escaping (the answers are
// never HTML) and with a final newline.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
