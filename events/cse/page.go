package cse

import (
	"fmt"
	"net/url"
	"strconv"
)

// Paging defaults, as CSE's.
const (
	DefaultPageSize = 25
	MaxPageSize     = 128
)

// PageParams are the paging parameters of a list request.
type PageParams struct {
	Page, PageSize int
	// Base is the absolute URL of the list (scheme, host, path) for the page links.
	Base string
	// Filters are the other query parameters, repeated in the page links.
	Filters url.Values
}

// ParsePage reads page and pageSize from a query, with CSE's defaults.
func ParsePage(query url.Values) (page, size int, err error) {
	page, size = 1, DefaultPageSize
	if s := query.Get("page"); s != "" {
		if page, err = strconv.Atoi(s); err != nil || page < 1 {
			return 0, 0, fmt.Errorf("page must be a whole number of 1 or more, not %q", s)
		}
	}
	if s := query.Get("pageSize"); s != "" {
		if size, err = strconv.Atoi(s); err != nil || size < 1 || size > MaxPageSize {
			return 0, 0, fmt.Errorf("pageSize must be a whole number from 1 to %d, not %q", MaxPageSize, s)
		}
	}
	return page, size, nil
}

// Paginate cuts a list into CSE's paged result.
func Paginate[T any](all []T, p PageParams) Page[T] {
	total := len(all)
	var vals []T
	// Compare page numbers, never multiply them: a huge page must not overflow.
	if pages := (total + p.PageSize - 1) / p.PageSize; p.Page <= pages {
		from := (p.Page - 1) * p.PageSize
		vals = all[from:min(from+p.PageSize, total)]
	}
	return PageOf(vals, total, p)
}

// PageOf is CSE's paged result for one page's values cut from a list of total items
// elsewhere (by a reader that did not keep the whole list).
func PageOf[T any](vals []T, total int, p PageParams) Page[T] {
	if vals == nil {
		vals = []T{}
	}
	res := Page[T]{ResultTotal: total, Page: p.Page, PageSize: p.PageSize, PageCount: (total + p.PageSize - 1) / p.PageSize, Values: vals}
	link := func(page int) string {
		v := url.Values{}
		for k, vals := range p.Filters {
			if k != "page" && k != "pageSize" {
				v[k] = vals
			}
		}
		v.Set("page", strconv.Itoa(page))
		v.Set("pageSize", strconv.Itoa(p.PageSize))
		return p.Base + "?" + v.Encode()
	}
	if p.Page < res.PageCount {
		res.NextPageURI = link(p.Page + 1)
	}
	if p.Page > 1 && p.Page <= res.PageCount {
		res.PreviousPageURI = link(p.Page - 1)
	}
	return res
}
