package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// cell is every run of one label at one concurrency.
type cell struct {
	label       string
	concurrency int
	runs        []Report
}

// summarizeFile reads report lines (other lines are skipped, so a whole
// log can be given) and prints a markdown table of medians per label and
// concurrency, with throughput and CPU ratios to the baseline label at the
// same concurrency.
func summarizeFile(path, baseline string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("summarize: %w", err)
	}
	defer f.Close()
	cells, err := readCells(f)
	if err != nil {
		return fmt.Errorf("summarize %s: %w", path, err)
	}
	if len(cells) == 0 {
		return fmt.Errorf("summarize %s: no acmebench report lines", path)
	}
	writeSummary(w, cells, baseline)
	return nil
}

// readCells groups the report lines of r, keeping the labels in the
// order they first appear.
func readCells(r io.Reader) ([]*cell, error) {
	var cells []*cell
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rep Report
		if err := json.Unmarshal([]byte(line), &rep); err != nil || rep.Schema != reportSchema {
			continue
		}
		i := slices.IndexFunc(cells, func(c *cell) bool { return c.label == rep.Label && c.concurrency == rep.Concurrency })
		if i < 0 {
			cells = append(cells, &cell{label: rep.Label, concurrency: rep.Concurrency})
			i = len(cells) - 1
		}
		cells[i].runs = append(cells[i].runs, rep)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	labels := []string{}
	for _, c := range cells {
		if !slices.Contains(labels, c.label) {
			labels = append(labels, c.label)
		}
	}
	slices.SortStableFunc(cells, func(a, b *cell) int {
		if a.concurrency != b.concurrency {
			return a.concurrency - b.concurrency
		}
		return slices.Index(labels, a.label) - slices.Index(labels, b.label)
	})
	return cells, nil
}

// median of the values f picks from the runs.
func (c *cell) median(f func(*Report) float64) float64 {
	vs := make([]float64, len(c.runs))
	for i := range c.runs {
		vs[i] = f(&c.runs[i])
	}
	slices.Sort(vs)
	n := len(vs)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

func (c *cell) hasServer() bool {
	return slices.ContainsFunc(c.runs, func(r Report) bool { return r.Server != nil })
}

func writeSummary(w io.Writer, cells []*cell, baseline string) {
	base := map[int]*cell{}
	for _, c := range cells {
		if c.label == baseline {
			base[c.concurrency] = c
		}
	}
	perS := func(r *Report) float64 { return r.IssuancesPerS }
	cpu := func(r *Report) float64 {
		if r.Server == nil {
			return 0
		}
		return r.Server.CPUMsPerIssuance
	}
	fmt.Fprintf(w, "| server | c | runs | issuances/s | × %s | flow p50 ms | flow p99 ms | server CPU ms/issuance | × %s CPU | peak RSS MiB | requests/issuance | failed |\n", baseline, baseline)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, c := range cells {
		ips := c.median(perS)
		ratio, cpuRatio, cpuCell, rss := "–", "–", "–", "–"
		if b := base[c.concurrency]; b != nil && b.median(perS) > 0 {
			ratio = fmt.Sprintf("%.2f", ips/b.median(perS))
			if c.hasServer() && b.hasServer() && b.median(cpu) > 0 {
				cpuRatio = fmt.Sprintf("%.2f", c.median(cpu)/b.median(cpu))
			}
		}
		if c.hasServer() {
			cpuCell = fmt.Sprintf("%.2f", c.median(cpu))
			var peak int64
			for _, r := range c.runs {
				if r.Server != nil {
					peak = max(peak, r.Server.PeakRSSKiB)
				}
			}
			rss = fmt.Sprintf("%.0f", mib(peak))
		}
		failed := 0
		for _, r := range c.runs {
			failed += r.Failures
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %s | %.1f | %.1f | %s | %s | %s | %.1f | %d |\n",
			c.label, c.concurrency, len(c.runs), ips, ratio,
			c.median(func(r *Report) float64 { return r.Flow.P50 }),
			c.median(func(r *Report) float64 { return r.Flow.P99 }),
			cpuCell, cpuRatio, rss,
			c.median(func(r *Report) float64 { return r.RequestsPerIssuance }), failed)
	}
}
