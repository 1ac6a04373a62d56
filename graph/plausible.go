package graph

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Every measured value has a plausible range, given by the field's
// `plausible:"min,max"` tag (numbers; durations in Go's form, "0,24h").
// A value outside it (1e300, a negative jitter, a loss ratio of 7) would
// freeze a histogram's _sum or skew every quantile for good, so it is
// dropped (made not Valid, as if Graph had not measured it) and counted.
// A number without a tag must be finite and within ±1e12, a duration
// without one within a day, so a field added later is bounded too.
//
// Ranges: ratios 0-1, percentages 0-100, durations 0-24h, MOS 0-5, frame
// rates 0-1000 fps, bit rates 0-100 Gbit/s (a stream's estimate 0-10
// Gbit/s), signal levels ±200 dB, glitch rates 0-1e6 per 5 minutes,
// packet counts 0-1e10; a call lasts at most 31 days.
const (
	defaultNumberBound   = 1e12
	defaultDurationBound = 24 * time.Hour
	maxCallDuration      = 31 * 24 * time.Hour
)

// dropImplausible makes every value of rec outside its plausible range not
// Valid, and a call end more than 31 days after its start (or before it)
// zero, and returns how many values it dropped.
func dropImplausible(rec *CallRecord) int {
	n := dropIn(reflect.ValueOf(rec).Elem())
	if !rec.EndDateTime.IsZero() && !rec.StartDateTime.IsZero() {
		if d := rec.EndDateTime.Sub(rec.StartDateTime); d < 0 || d > maxCallDuration {
			rec.EndDateTime = time.Time{}
			n++
		}
	}
	return n
}

var (
	numberType   = reflect.TypeFor[Number]()
	durationType = reflect.TypeFor[Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

// checkedField is a field of a struct that dropIn visits: a value with a
// range, or a struct, pointer or slice that may hold some.
type checkedField struct {
	index  int
	lo, hi float64 // for Number and Duration (in nanoseconds)
}

var plans sync.Map // reflect.Type -> []checkedField

// dropIn walks v and returns how many values it dropped.
func dropIn(v reflect.Value) int {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		return dropIn(v.Elem())
	case reflect.Slice:
		n := 0
		for i := range v.Len() {
			n += dropIn(v.Index(i))
		}
		return n
	case reflect.Struct:
	default:
		return 0
	}
	n := 0
	for _, f := range planOf(v.Type()) {
		fv := v.Field(f.index)
		switch fv.Type() {
		case numberType:
			num := fv.Addr().Interface().(*Number)
			if num.Valid && !(num.Value >= f.lo && num.Value <= f.hi) { // NaN is outside
				*num = Number{}
				n++
			}
		case durationType:
			d := fv.Addr().Interface().(*Duration)
			if d.Valid && (float64(d.Value) < f.lo || float64(d.Value) > f.hi) {
				*d = Duration{}
				n++
			}
		default:
			n += dropIn(fv)
		}
	}
	return n
}

// planOf lists the fields of struct type t worth visiting, once per type.
func planOf(t reflect.Type) []checkedField {
	if p, ok := plans.Load(t); ok {
		return p.([]checkedField)
	}
	var plan []checkedField
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() || sf.Type == timeType {
			continue
		}
		switch sf.Type {
		case numberType, durationType:
			lo, hi, err := parseRange(sf.Type, sf.Tag.Get("plausible"))
			if err != nil {
				panic(fmt.Sprintf("graph: %s.%s: %v", t.Name(), sf.Name, err)) // a mistake in a tag
			}
			plan = append(plan, checkedField{index: i, lo: lo, hi: hi})
			continue
		}
		switch sf.Type.Kind() {
		case reflect.Struct, reflect.Pointer, reflect.Slice:
			plan = append(plan, checkedField{index: i})
		}
	}
	plans.Store(t, plan)
	return plan
}

func parseRange(t reflect.Type, tag string) (lo, hi float64, err error) {
	if tag == "" {
		if t == durationType {
			return 0, float64(defaultDurationBound), nil
		}
		return -defaultNumberBound, defaultNumberBound, nil
	}
	a, b, ok := strings.Cut(tag, ",")
	if !ok {
		return 0, 0, fmt.Errorf("plausible tag %q: want min,max", tag)
	}
	parse := func(s string) (float64, error) {
		if t == durationType {
			d, err := time.ParseDuration(s)
			return float64(d), err
		}
		return strconv.ParseFloat(s, 64)
	}
	if lo, err = parse(a); err == nil {
		hi, err = parse(b)
	}
	if err == nil && (math.IsNaN(lo) || math.IsNaN(hi) || lo > hi) {
		err = fmt.Errorf("plausible tag %q: empty range", tag)
	}
	return lo, hi, err
}
