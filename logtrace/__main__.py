from logtrace.cli import main

main()
