from kb.cli import main

if __name__ == "__main__":  # guarded: index workers are spawned processes
    main()
