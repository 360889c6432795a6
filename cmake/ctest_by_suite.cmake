# build-time step of asyncvla_tests (CMakeLists.txt): lists the test binary's gtest tests and writes
# one ctest test per suite (`--gtest_filter=Suite.*`) to OUT. a test process pays about 0.7 s of
# start-up (loading LibTorch) before its first line; one process per suite instead of one per test
# takes about two minutes of that out of a ctest run, and runs every test as before.
# inputs: TEST_BINARY, OUT, FIXTURE_DIR, TIMEOUT, TWO_CORE_SUITES (comma-separated suite names that
# hold two cores: PROCESSORS 2)
cmake_minimum_required(VERSION 3.20)  # IN_LIST, in script mode too
execute_process(COMMAND "${TEST_BINARY}" --gtest_list_tests
                OUTPUT_VARIABLE listing RESULT_VARIABLE rc TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TEST_BINARY} --gtest_list_tests failed (${rc}):\n${listing}")
endif()
string(REPLACE "," ";" two_core "${TWO_CORE_SUITES}")
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
    string(APPEND content
      "add_test([=[${suite}]=] \"${TEST_BINARY}\" [=[--gtest_filter=${suite}.*]=])\n"
      "set_tests_properties([=[${suite}]=] PROPERTIES TIMEOUT ${TIMEOUT} "
      "FIXTURES_REQUIRED tiny_run PROCESSORS ${processors} "
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
