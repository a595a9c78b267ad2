# malloc_plot.gp -- libpcache-malloc and the system's mallocs: each
# allocator's speed relative to glibc's per workload (log scale; for peak
# RSS and the real programs' wall time, glibc's figure over the
# allocator's, so that taller is better everywhere).
#
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
#
# tests/bench/malloc/run_malloc_bench.py --plot calls it; by hand:
#   gnuplot -e "datafile='docs/bench/malloc.dat'; outfile='docs/bench/malloc.png'; ncol=6" docs/bench/malloc_plot.gp
# datafile: a header line (workload, then one name per allocator), then a
# line per workload.  ncol: columns, the workload's included.

if (!exists("datafile")) datafile = "malloc.dat"
if (!exists("outfile")) outfile = "malloc.png"
if (!exists("ncol")) ncol = 6

set terminal pngcairo noenhanced size 1400,600 font "DejaVu Sans,10"
set output outfile
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
set logscale y
set xtics rotate by -30 nomirror
set ylabel "speed relative to glibc (taller is better; log scale)"
set title "libpcache-malloc and the system's mallocs, relative to glibc"
set linetype 1 lc rgb "#7f7f7f"
set linetype 2 lc rgb "#1f77b4"
set linetype 3 lc rgb "#2ca02c"
set linetype 4 lc rgb "#9467bd"
set linetype 5 lc rgb "#d62728"
plot for [i=2:ncol] datafile using i:xtic(1) title columnheader(i)
