# build-time step of asyncvla_tests (CMakeLists.txt): lists the test binary's gtest tests and writes
# one ctest test per suite (`--gtest_filter=Suite.*`) to OUT. a test process pays about 0.7 s of
# start-up (loading LibTorch) before its first line; one process per suite instead of one per test
# takes about two minutes of that out of a ctest run, and runs every test as before.
# a suite waits for the one-time tiny-policy fixture only when the file that defines it uses it
# (tests/tiny_policy.h); the others run while the fixture trains.
# inputs: TEST_BINARY, OUT, FIXTURE_DIR, TIMEOUT, TWO_CORE_SUITES (comma-separated suite names that
# hold two cores: PROCESSORS 2), TEST_SOURCES (comma-separated test files)
cmake_minimum_required(VERSION 3.20)  # IN_LIST, in script mode too
execute_process(COMMAND "${TEST_BINARY}" --gtest_list_tests
                OUTPUT_VARIABLE listing RESULT_VARIABLE rc TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TEST_BINARY} --gtest_list_tests failed (${rc}):\n${listing}")
endif()
string(REPLACE "," ";" two_core "${TWO_CORE_SUITES}")
# the suites defined in files that include tiny_policy.h (TEST(S, ..), TEST_F, TEST_P)
string(REPLACE "," ";" sources "${TEST_SOURCES}")
set(fixture_suites)
foreach(source IN LISTS sources)
  file(READ "${source}" text)
  if(NOT text MATCHES "tiny_policy\\.h")
    continue()
  endif()
  string(REGEX MATCHALL "TEST(_F|_P)?\\(([A-Za-z0-9_]+)," defs "${text}")
  foreach(def IN LISTS defs)
    string(REGEX REPLACE "TEST(_F|_P)?\\(([A-Za-z0-9_]+)," "\\2" name "${def}")
    list(APPEND fixture_suites "${name}")
  endforeach()
endforeach()
string(REPLACE "\n" ";" lines "${listing}")
set(content "# written by cmake/ctest_by_suite.cmake from ${TEST_BINARY} --gtest_list_tests\n")
set(n_suites 0)
set(n_tests 0)
foreach(line IN LISTS lines)
  if(line MATCHES "^([A-Za-z0-9_/]+)\\.$")
    set(suite "${CMAKE_MATCH_1}")
    math(EXPR n_suites "${n_suites} + 1")
    set(processors 1)
    if(suite IN_LIST two_core)
      set(processors 2)
    endif()
    # a parameterized suite is listed as Prefix/Suite
    string(REGEX REPLACE "^.*/" "" bare "${suite}")
    set(fixture "")
    if(bare IN_LIST fixture_suites)
      set(fixture "FIXTURES_REQUIRED tiny_run ")
    endif()
    string(APPEND content
      "add_test([=[${suite}]=] \"${TEST_BINARY}\" [=[--gtest_filter=${suite}.*]=])\n"
      "set_tests_properties([=[${suite}]=] PROPERTIES TIMEOUT ${TIMEOUT} "
      "${fixture}PROCESSORS ${processors} "
      "ENVIRONMENT [=[ASYNCVLA_TEST_FIXTURES=${FIXTURE_DIR}]=])\n")
  elseif(line MATCHES "^  [A-Za-z0-9_]")
    math(EXPR n_tests "${n_tests} + 1")
  endif()
endforeach()
if(n_suites EQUAL 0)
  message(FATAL_ERROR "${TEST_BINARY} listed no test suites")
endif()
string(APPEND content "# ${n_tests} tests in ${n_suites} suites\n")
file(WRITE "${OUT}.tmp" "${content}")
file(RENAME "${OUT}.tmp" "${OUT}")
