# plot.gp -- draw the benchmark results as grouped bars: ns per object for
# each workload and allocator (log scale), and peak RSS beside it.
#
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
#
# run_bench.py calls it after each run; by hand:
#   gnuplot -e "datafile='docs/bench/results.dat'; outfile='docs/bench/bench.png'; ncol=8" docs/bench/plot.gp
# datafile: block 0 is ns per object, block 1 peak RSS in MiB; the first
# line of each block names the columns (workload, then one per allocator).
# ncol: columns in a block, the workload's included.

if (!exists("datafile")) datafile = "results.dat"
if (!exists("outfile")) outfile = "bench.png"
if (!exists("ncol")) ncol = 8
if (!exists("subtitle")) subtitle = ""

set terminal pngcairo noenhanced size 1500,650 font "DejaVu Sans,10"
set output outfile
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xtics rotate by -30 nomirror
# libpcache's layers first (reds), then glibc, jemalloc, tcmalloc,
# mimalloc, dpdk; a run with fewer columns shifts the colours.
set linetype 1 lc rgb "#d62728"
set linetype 2 lc rgb "#ff9896"
set linetype 3 lc rgb "#7f7f7f"
set linetype 4 lc rgb "#1f77b4"
set linetype 5 lc rgb "#2ca02c"
set linetype 6 lc rgb "#9467bd"
set linetype 7 lc rgb "#ff7f0e"
set linetype 8 lc rgb "#8c564b"

set multiplot title "libpcache against malloc and rte_mempool\n".subtitle

set size 0.78,0.92
set origin 0,0
set title "ns per object (get + put), median; lower is better"
set logscale y
set ylabel "ns (log scale)"
plot for [i=2:ncol] datafile index 0 using i:xtic(1) title columnheader(i)

set size 0.22,0.92
set origin 0.78,0
set title "peak RSS, 1 M live 64 B objects"
unset logscale y
set yrange [0:*]
set ylabel "MiB"
unset key
plot for [i=2:ncol] datafile index 1 using i:xtic(1) title columnheader(i)

unset multiplot
