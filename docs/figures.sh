#!/usr/bin/env bash
# Regenerate the figures of docs/sampling.md, docs/evaluation.md, docs/training.md and the sample
# grids of docs/results.md from a GibbsNet run and an ALI run of the digits recipe: the commands of
# those pages, writing into docs/images/ instead of scratch/.
#
#   docs/figures.sh runs/digits runs/digits-ali
set -euo pipefail
gibbsnet_run=${1:?usage: docs/figures.sh GIBBSNET_RUN ALI_RUN}
ali_run=${2:?usage: docs/figures.sh GIBBSNET_RUN ALI_RUN}
out=docs/images
mkdir -p scratch
g() { gibbsnet "$@" --force; }
g sample "$gibbsnet_run" --num 100 --scale 3 --out $out/sample.png
g sample "$gibbsnet_run" --num 9 --steps 1000 --trajectory $out/trajectory.png --gif $out/chains.gif --scale 4 --out scratch/sample_1000.png
g sample "$gibbsnet_run" --from-images examples/digits --steps 100 --trajectory $out/from_images.png --at 1,2,5,10,20,50,100 --scale 4 --out scratch/from_images_100.png
g inpaint "$gibbsnet_run" --mask right-half --num 16 --scale 4 --out $out/inpaint_right_half.png
g inpaint "$gibbsnet_run" --mask random-50 --num 16 --scale 4 --out $out/inpaint_random_50.png
g reconstruct "$gibbsnet_run" --num 16 --scale 4 --out $out/reconstruct.png
g interpolate "$gibbsnet_run" --pairs 4 --points 8 --chain 10 --scale 4 --out $out/interpolate.png
for pair in "$gibbsnet_run:tsne-digits" "$ali_run:tsne-digits-ali"; do
  rm -rf scratch/figures && mkdir -p scratch/figures
  gibbsnet evaluate "${pair%%:*}" --metric tsne --out-dir scratch/figures
  cp scratch/figures/tsne-*.png "$out/${pair##*:}.png"
done
for steps in 1 10 1000; do
  g sample "$gibbsnet_run" --num 100 --steps $steps --scale 3 --out $out/gibbsnet_step$steps.png
  g sample "$ali_run" --num 100 --steps $steps --scale 3 --out $out/ali_step$steps.png
done
if command -v chromium >/dev/null 2>&1; then
  g report "$gibbsnet_run" --out scratch/report.html
  chromium --headless=new --no-sandbox --hide-scrollbars --window-size=1280,1600 \
      --screenshot=$out/report.png "file://$PWD/scratch/report.html"
else
  echo "chromium not found: docs/images/report.png left as it is" >&2
fi
