// the fuzz targets inside the normal test suite: the seeds our writers make are accepted, every
// committed corpus and regression input is replayed (a crash found by scripts/fuzz.sh stays here
// as a case), and each seed cut short or with a byte flipped is refused or accepted, never more.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "data/libero_file.h"
#include "fuzz/fuzz_targets.h"
#include "io/atomic_file.h"
#include "test_util.h"

namespace avla::fuzz {
namespace {

bool run(const Target& t, const std::string& bytes) {
  return t.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  if (!std::filesystem::is_directory(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::filesystem::path fuzz_dir = std::filesystem::path(test::source_dir()) / "tests/fuzz";

TEST(Fuzz, SeedsFromOurWritersAreAccepted) {
  for (const auto& t : targets()) {
    for (const auto& [name, bytes] : t.seeds()) {
      EXPECT_TRUE(run(t, bytes)) << t.name << ": seed " << name << " refused";
    }
  }
}

TEST(Fuzz, CommittedSeedCorpusIsAcceptedAndComplete) {
  for (const auto& t : targets()) {
    const auto files = files_under(fuzz_dir / "corpus" / t.name);
    EXPECT_FALSE(files.empty()) << "no seed corpus for " << t.name;
    for (const auto& f : files) EXPECT_TRUE(run(t, read_file(f))) << f;
  }
}

TEST(Fuzz, RegressionInputsReplayAsTheirFixesDecided) {
  // found by scripts/fuzz.sh; each file is named after what it broke (docs/RELIABILITY.md), and
  // each is a broken input its parser must refuse with an error. one libero input loops libhdf5
  // forever: the guard ends it at its deadline
  ASSERT_EQ(::setenv("ASYNCVLA_HDF5_GUARD_TIMEOUT", "5", 1), 0);
  ASSERT_TRUE(std::filesystem::is_directory(fuzz_dir / "regressions")) << fuzz_dir;
  // the inputs RELIABILITY.md lists: a new finding adds its file here and there
  const std::map<std::string, std::vector<std::string>> expected = {
      {"config", {"float_1e126_in_an_int_field.json"}},
      {"libero",
       {"dataspace_of_petabytes.hdf5", "declares_gigabytes_stores_kilobytes.hdf5",
        "empty_dataspace_whose_dims_overflow.hdf5",
        "global_heap_object_longer_than_its_vlen_string.hdf5",
        "global_heap_that_sends_libhdf5_into_an_endless_loop.hdf5",
        "vlen_string_read_that_corrupts_the_heap.hdf5"}},
      {"request", {"state_that_overflows_float32_once_normalized.msgpack"}},
      {"rlds_episode", {"gripper_between_at_the_end"}},
  };
  // inputs that a fix made valid: replayed, they are accepted with every invariant holding (a
  // broken one aborts the test); the rest are refused with avla::Error
  const std::set<std::string> accepted = {"gripper_between_at_the_end"};
  int replayed = 0;
  for (const auto& t : targets()) {
    std::vector<std::string> names;
    for (const auto& f : files_under(fuzz_dir / "regressions" / t.name)) {
      names.push_back(f.filename().string());
      if (accepted.count(names.back()) > 0) {
        EXPECT_TRUE(run(t, read_file(f))) << t.name << ": " << f.filename() << " was refused";
      } else {
        EXPECT_FALSE(run(t, read_file(f))) << t.name << ": " << f.filename() << " was accepted";
      }
      ++replayed;
    }
    const auto it = expected.find(t.name);
    EXPECT_EQ(names, it == expected.end() ? std::vector<std::string>{} : it->second) << t.name;
  }
  EXPECT_EQ(replayed, 9);
}

// a libero regression input, read from memory as `name`, is refused with an error holding
// `expected`
void expect_libero_input_refused(const std::string& input, const std::string& name,
                                 const std::string& expected) {
  const std::string bytes = read_file(fuzz_dir / "regressions" / "libero" / input);
  test::expect_error([&] { read_libero_image(bytes, name); }, {expected});
}

TEST(Fuzz, ADataspaceOfPetabytesIsRefusedNamingFileAndDataset) {
  // found by the 2026-11-30 libero campaign: the dims asked LibTorch for 1.8e17 bytes, whose own
  // error named neither the file nor the dataset
  expect_libero_input_refused("dataspace_of_petabytes.hdf5", "petabytes.hdf5",
                              "petabytes.hdf5: dataset 'data/demo_0/obs/agentview_rgb' of shape "
                              "[3, 8, 2533274790395912, 3] would take more than");
}

TEST(Fuzz, ADatasetThatStoresKilobytesOfItsGigabytesIsRefusedBeforeReading) {
  // found by the 2026-11-30 libero campaign (an out-of-memory stop): 32 KB whose image dataset
  // declares [3, 67108872, 8, 3] but stores 3 chunks. libhdf5 filled the rest with the fill value,
  // and `asyncvla train` on it grew to 23 GB of memory on a 24 GB machine
  expect_libero_input_refused("declares_gigabytes_stores_kilobytes.hdf5", "sparse.hdf5",
                              "sparse.hdf5: dataset 'data/demo_1/obs/agentview_rgb' stores 3 of "
                              "the 25165827 chunks its shape spans");
}

TEST(Fuzz, AnEmptyDataspaceWhoseOtherDimsOverflowIsRefusedNamingFileAndDataset) {
  // found by the 2026-11-30 libero campaign after the size check counted any shape with a 0 dim
  // as 0 bytes: LibTorch refused [3, 9222772664260558856, 0, 3] with its own error, inside the
  // reading child, which the user saw as "the HDF5 library failed reading this file (exit 4)"
  expect_libero_input_refused("empty_dataspace_whose_dims_overflow.hdf5", "overflow.hdf5",
                              "overflow.hdf5: dataset 'data/demo_0/obs/agentview_rgb' has shape "
                              "[3, 9222772664260558856, 0, 3], whose size overflows 64 bits");
}

TEST(Fuzz, TruncatedAndBitFlippedSeedsAreRefusedCleanly) {
  // every prefix of every seed, and one flipped byte at a stride: refused with avla::Error or
  // accepted with its invariants intact (a crash or another exception fails the whole binary)
  int refused = 0, accepted = 0;
  for (const auto& t : targets()) {
    for (const auto& [name, bytes] : t.seeds()) {
      // hdf5 reads start a child process each (io/child_read.h): fewer cuts there
      const size_t cuts = std::string(t.name) == "libero" ? 40 : 400;
      const size_t stride = std::max<size_t>(1, bytes.size() / cuts);
      for (size_t n = 0; n < bytes.size(); n += stride) {
        (run(t, bytes.substr(0, n)) ? accepted : refused)++;
        std::string flipped = bytes;
        flipped[n] = static_cast<char>(flipped[n] ^ 0x5a);
        (run(t, flipped) ? accepted : refused)++;
      }
    }
  }
  std::printf("mutants: %d refused, %d accepted\n", refused, accepted);
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace avla::fuzz
