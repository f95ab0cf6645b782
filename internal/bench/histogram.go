// Package bench holds the measuring parts of the benchmark (cmd/bench): a latency histogram,
// closed-loop and batch load runners, process and machine resource meters, and the report
// with its Markdown and JSON renderings. Nothing here knows the gateway; cmd/bench drives the
// real server and hands its measurements to these types.
package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram buckets: values below 2^subBits nanoseconds are exact; above, each power of two is
// split into 2^(subBits-1) equal buckets, so a recorded value is known to within 1/128 (0.8 %)
// of itself, like HdrHistogram with two significant digits. Values are capped at maxTracked.
const (
	subBits    = 8
	subCount   = 1 << subBits // exact buckets for 0..255 ns
	halfCount  = subCount / 2 // buckets per power of two above that
	maxTracked = time.Hour
)

// bucketCount covers every value up to maxTracked.
var bucketCount = bucketIndex(int64(maxTracked)) + 1

// Histogram records durations in log-linear buckets. The zero value is not usable; call
// NewHistogram. It is not safe for concurrent use: give each goroutine its own and Merge them.
type Histogram struct {
	counts []uint64
	count  uint64
	sum    float64
	min    int64
	max    int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, bucketCount), min: math.MaxInt64}
}

func bucketIndex(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits
	mantissa := int(v >> shift) // in [128, 255]
	return subCount + (shift-1)*halfCount + (mantissa - halfCount)
}

// bucketBounds returns the lowest value of bucket i and its width.
func bucketBounds(i int) (low, width int64) {
	if i < subCount {
		return int64(i), 1
	}
	shift := (i-subCount)/halfCount + 1
	mantissa := int64((i-subCount)%halfCount + halfCount)
	return mantissa << shift, int64(1) << shift
}

// Record adds one duration; negative ones count as zero, longer ones than an hour as an hour.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	v = max(v, 0)
	v = min(v, int64(maxTracked))
	h.counts[bucketIndex(v)]++
	h.count++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.count == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.count += o.count
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.count }

// Min is the smallest recorded value (exact), zero when empty.
func (h *Histogram) Min() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Max is the largest recorded value (exact), zero when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the exact mean of the recorded values, zero when empty.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.count))
}

// Percentile returns the value at or below which q percent of the values lie (nearest rank),
// to within the bucket precision, erring high (the bucket's highest value, as HdrHistogram
// does): a latency is never understated. It never answers outside [Min, Max]. Zero when empty.
func (h *Histogram) Percentile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	if q >= 100 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q / 100 * float64(h.count)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketBounds(i)
			return time.Duration(min(max(low+width-1, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Summary is the usual digest of a histogram.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.count,
		Mean:  Millis(h.Mean()),
		P50:   Millis(h.Percentile(50)),
		P95:   Millis(h.Percentile(95)),
		P99:   Millis(h.Percentile(99)),
		Max:   Millis(h.Max()),
	}
}

// Millis is a duration in milliseconds, as the report writes them.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
