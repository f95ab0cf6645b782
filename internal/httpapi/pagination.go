package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/wagateway/gateway/internal/model"
)

// page is a parsed `limit` with `page` or `offset`.
type page struct {
	Limit  int
	Offset int
}

// pagination is the object list endpoints put beside their items.
type pagination struct {
	Total      int  `json:"total"`
	Page       int  `json:"page"`
	Limit      int  `json:"limit"`
	TotalPages int  `json:"totalPages"`
	HasNext    bool `json:"hasNext"`
	HasPrev    bool `json:"hasPrev"`
}

// parsePage reads limit (1..100, default 20) and page (from 1) or offset (from 0), listing
// every bad parameter.
func parsePage(r *http.Request) (page, error) {
	q := r.URL.Query()
	p := page{Limit: 20}
	var bad []model.FieldError
	readInt := func(name string, lo, hi int, dst *int) bool {
		v := q.Get(name)
		if v == "" {
			return false
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			bad = append(bad, model.FieldError{Field: name, Message: "must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)})
			return false
		}
		*dst = n
		return true
	}
	readInt("limit", 1, 100, &p.Limit)
	var pageNumber int
	if readInt("page", 1, 1_000_000, &pageNumber) {
		p.Offset = (pageNumber - 1) * p.Limit
	}
	readInt("offset", 0, 100_000_000, &p.Offset)
	if len(bad) > 0 {
		return p, model.ValidationError(bad...)
	}
	return p, nil
}

func (p page) describe(total int) pagination {
	current := p.Offset/p.Limit + 1
	pages := (total + p.Limit - 1) / p.Limit
	return pagination{
		Total: total, Page: current, Limit: p.Limit, TotalPages: pages,
		HasNext: p.Offset+p.Limit < total, HasPrev: p.Offset > 0,
	}
}

// queryBool reads an optional boolean query parameter.
func queryBool(r *http.Request, name string, bad *[]model.FieldError) *bool {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		*bad = append(*bad, model.FieldError{Field: name, Message: "must be true or false"})
		return nil
	}
	return &b
}

// queryEnum reads an optional query parameter that must be one of allowed.
func queryEnum[T ~string](r *http.Request, name string, allowed []T, bad *[]model.FieldError) *T {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if string(a) == v {
			return &a
		}
	}
	msg := "must be one of"
	for i, a := range allowed {
		if i > 0 {
			msg += ","
		}
		msg += " " + string(a)
	}
	*bad = append(*bad, model.FieldError{Field: name, Message: msg})
	return nil
}

// mergeValidation combines a validation error and more bad fields into one error listing all.
func mergeValidation(err error, more []model.FieldError) error {
	var details []model.FieldError
	if err != nil {
		var e *model.Error
		if !errors.As(err, &e) || e.Kind != model.KindValidation {
			return err
		}
		details = append(details, e.Details...)
	}
	return model.ValidationError(append(details, more...)...)
}
