# Figure 5: metrics against alpha. Call with
#   gnuplot -e "datafile='x.dat'; outfile='x.png'; name='bottle'" experiments/fig5_alpha.gp
# (columns of ddad-alpha-sweep: alpha image_auroc pixel_auroc au_pro).
set terminal pngcairo size 640,420 noenhanced
set output outfile
set title sprintf("%s: metrics against alpha (pixel-map weight)", name)
set xlabel "alpha"
set ylabel "percent"
set xrange [0:1]
set key bottom right
set grid
plot datafile using 1:($2*100) with linespoints title "image AUROC", \
     datafile using 1:($3*100) with linespoints title "pixel AUROC", \
     datafile using 1:($4*100) with linespoints title "AU-PRO"
