// cluster_test: placeholder, filled below.
#include "topology/cluster_loader.hpp"
#include <gtest/gtest.h>
