# Sourced by train_gpu.sh and ablation_gpu.sh (repository root as the working folder): the identity
# split of the celeba-6k copy that travels with the checkout.
#
# gpu_split CELEBA: writes models/data/split-gpu/{train-180,holdout} (`daefr_models.splits`: links,
# made on the machine itself) and prints the folder; fails with a line on stderr when CELEBA/train
# is missing. Train on train-180 (celeb_0..celeb_179); measure on holdout (celeb_180..celeb_199),
# whom no stage sees. celeba-6k/test holds the same 200 people as train/: it is no test of a prior.
gpu_split() {
  local celeba=$1 split=models/data/split-gpu
  if [ ! -d "$celeba/train" ]; then
    echo "no $celeba/train: copy ../shared/data/celeba-6k to models/data/ and carry it (or set DATA)" >&2
    return 2
  fi
  python3 -m daefr_models.splits --celeba "$celeba" --out "$split" >&2
  echo "$split"
}
