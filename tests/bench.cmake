# bench/: the pipeline bench's figures and bounds (pure), and its request
# recorder and replayer against a fake sampler (CAF's test coordinator). Built
# from the bench sources they test, without tandem_bench's LibTorch links.
tandem_add_test(pipeline_figures_test
  SOURCES bench/pipeline_figures_test.cpp ${TANDEM_ROOT}/bench/pipeline_figures.cpp
          ${TANDEM_ROOT}/bench/sample_stats.cpp
  LIBS tandem_runtime)
tandem_add_test(request_replay_test
  SOURCES bench/request_replay_test.cpp ${TANDEM_ROOT}/bench/request_recorder.cpp
          ${TANDEM_ROOT}/bench/request_replayer.cpp
  LIBS tandem_runtime)
