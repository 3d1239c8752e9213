# Runs COMMAND (a ;-list) and passes only if it fails (nonzero exit) within SECONDS and its
# output matches EXPECT: a fault in one rank must end the job with an error that names the
# rank, never a hang. cmake -DCOMMAND=... -DSECONDS=30 -DEXPECT=regex -P expect_failure.cmake
string(TIMESTAMP t0 "%s")
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT ${SECONDS})
string(TIMESTAMP t1 "%s")
math(EXPR elapsed "${t1} - ${t0}")
message("exit: ${rc}, ${elapsed} s\n--- stdout\n${out}--- stderr\n${err}---")
if(rc MATCHES "timeout" OR elapsed GREATER_EQUAL ${SECONDS})
  message(FATAL_ERROR "the job did not end within ${SECONDS} s (a hang)")
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "the job exited 0 despite the fault")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "the output does not match '${EXPECT}'")
endif()
message("ok: failed with exit ${rc} in ${elapsed} s, naming the rank")
