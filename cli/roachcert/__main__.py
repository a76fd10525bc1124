from roachcert.app import main

main()
