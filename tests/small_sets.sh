# small_sets.sh - every shipped config at a small size (sourced): the --set
# options that shrink configs/NAME.yaml to a run of a few seconds on 2 ranks
# that still passes through each of its features (engines, regimes, events,
# spectra). Tests that run every config take their sizes from here.
#
#   source tests/small_sets.sh; small_sets wang2021_fig1   # prints the options
small_sets() {
  case $1 in
    decay_momentum) echo "--set train.iterations=300 --set train.momentum=[0,0.9]" ;;
    martin2024_recovery) echo "--set model.d=[20] --set model.K=[5,12] --set train.T=50 --set train.log_points=10" ;;
    scale_n1e9) echo "--set data.n=20000 --set data.n_test=500 --set train.iterations=200 --set init.seed=[0,1]" ;;
    wang2021_fig1) echo "--set train.iterations=500 --set init.seed=[0,1]" ;;
    wang2021_fig4) echo "--set train.iterations=300 --set init.seed=[0]" ;;
    wang2021_fig9) echo "--set train.iterations=500 --set init.seed=[0,1] --set train.eta=[1.0,0.1,0.01]" ;;
    wang2021_late) echo "--set train.iterations=600 --set init.seed=[0,1] --set train.log_every=20" ;;
    wang2021_hessian) echo "--set train.iterations=300 --set init.seed=[0] --set metrics.hessian.log_points=6" ;;
    xu2023_empirical) echo "--set data.n=[2000,5000] --set train.iterations=500 --set train.log_points=20" ;;
    xu2023_fig1) echo "--set train.iterations=500 --set train.log_points=20" ;;
    zhou2021_claim2) echo "" ;;
    zhou2021_fig1) echo "--set train.T=20 --set train.log_points=20" ;;
    zhou2021_local) echo "--set train.iterations=2000 --set model.K=[3,5] --set train.log_points=20" ;;
    train_output) echo "--set train.iterations=300 --set data.n=500 --set data.n_test=100" ;;
    teacher_from_file) echo "--set train.iterations=300 --set init.seed=[0]" ;;
    *) return 1 ;;
  esac
}
