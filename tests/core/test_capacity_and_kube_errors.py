from island_ssh.core.capacity import capacity_problem, free_memory


def node(name, branch, memory):
    return {"metadata": {"name": name, "labels": {"branch": branch}}, "status": {"allocatable": {"memory": memory}}}


def pod(node_name, request, phase="Running"):
    return {"spec": {"nodeName": node_name, "containers": [{"resources": {"requests": {"memory": request}}},
                                                            {"name": "side"}]},
            "status": {"phase": phase}}


NODES = [node("dev-1", "dev", "4Gi"), node("dev-2", "dev", "2Gi"), node("weekly-1", "weekly", "4Gi")]


def test_free_memory_counts_requests_of_live_pods_only():
    pods = [pod("dev-1", "1500Mi"), pod("dev-1", "1500Mi", phase="Failed"), pod(None, "1Gi")]
    free = free_memory(NODES, pods, {"branch": "dev"})
    assert [(n.name, n.free_bytes) for n in free] == [("dev-1", 4 * 2**30 - 1500 * 2**20), ("dev-2", 2 * 2**30)]


def test_fits_when_one_node_of_the_branch_has_room():
    assert capacity_problem(NODES, [pod("dev-1", "3Gi")], "dev", "1500Mi") is None


def test_refusal_names_branch_request_and_largest_free():
    pods = [pod("dev-1", "3500Mi"), pod("dev-2", "1124Mi")]
    problem = capacity_problem(NODES, pods, "dev", "1500Mi")
    assert problem.startswith("no dev node has 1500Mi free: largest free is 924Mi (on dev-2)")


def test_unknown_branch_says_so():
    assert "no node has the label branch=qa" in capacity_problem(NODES, [], "qa", "1Gi")


def test_kubectl_error_names_the_error_line_not_a_warning():
    from island_ssh.core.errors import NotFound
    from island_ssh.kube.kubectl import kubectl_error
    stderr = ("Warning: Immediate deletion does not wait for confirmation that the running resource has been "
              "terminated.\nError from server (NotFound): pods \"x\" not found\n")
    err = kubectl_error("kubectl delete pod x", 1, stderr)
    assert isinstance(err, NotFound) and "(NotFound)" in err.message and "Warning" not in err.message
