// Checks that README.md quotes the snippets verbatim, so that every snippet in the README is code
// that CI compiles and runs. In README.md a quoted snippet is a marker line followed by a fenced block:
//
//     <!-- snippet: examples/snippets/cpu.cpp -->
//     ```cpp
//     ...the lines between the marker lines "// snippet-begin" and "// snippet-end" in that file
//        (or "/* snippet-begin */" and "/* snippet-end */"; a marker line holds nothing else)...
//     ```
//
//   check_readme <source dir>      exit status 0 when every quoted snippet matches its file
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> read_lines(const std::string& path, bool& ok) {
    std::ifstream in(path);
    ok = static_cast<bool>(in);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// A marker line is exactly the marker comment, "// snippet-begin" or "/* snippet-begin */" (likewise
// snippet-end), give or take surrounding blanks; a line that merely mentions the word is not one.
bool is_marker(const std::string& line, const std::string& word) {
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) return false;
    const std::string trimmed = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
    return trimmed == "// " + word || trimmed == "/* " + word + " */";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <amxmm source dir>\n", argv[0]);
        return 2;
    }
    const std::string root = argv[1];
    bool ok = false;
    const std::vector<std::string> readme = read_lines(root + "/README.md", ok);
    if (!ok) {
        std::fprintf(stderr, "cannot read %s/README.md\n", root.c_str());
        return 1;
    }
    const std::string marker = "<!-- snippet: ";
    int checked = 0, failed = 0;
    for (std::size_t i = 0; i < readme.size(); ++i) {
        if (readme[i].rfind(marker, 0) != 0) continue;
        const std::string file = readme[i].substr(marker.size(), readme[i].find(" -->") - marker.size());
        bool file_ok = false;
        const std::vector<std::string> source = read_lines(root + "/" + file, file_ok);
        std::vector<std::string> snippet;
        bool inside = false, found = false;
        for (const std::string& line : source) {
            if (is_marker(line, "snippet-end")) inside = false;
            if (inside) snippet.push_back(line);
            if (is_marker(line, "snippet-begin")) inside = found = true;
        }
        std::vector<std::string> quoted;
        std::size_t j = i + 1;
        const bool fenced = j < readme.size() && readme[j].rfind("```", 0) == 0;
        for (++j; fenced && j < readme.size() && readme[j].rfind("```", 0) != 0; ++j) quoted.push_back(readme[j]);
        ++checked;
        if (!file_ok || !found || !fenced) {
            std::fprintf(stderr, "README.md:%zu: %s\n", i + 1,
                         !file_ok ? ("cannot read " + file).c_str()
                         : !found ? (file + " has no snippet-begin marker line").c_str()
                                  : "the marker is not followed by a ``` block");
            ++failed;
            continue;
        }
        if (quoted != snippet) {
            std::size_t k = 0;
            while (k < quoted.size() && k < snippet.size() && quoted[k] == snippet[k]) ++k;
            std::fprintf(stderr, "README.md:%zu: the quote of %s differs from the file at snippet line %zu:\n  README: %s\n  file:   %s\n",
                         i + 2 + k, file.c_str(), k + 1, k < quoted.size() ? quoted[k].c_str() : "(end)",
                         k < snippet.size() ? snippet[k].c_str() : "(end)");
            ++failed;
        }
    }
    std::printf("README.md: %d snippet(s) checked, %d differ from their files\n", checked, failed);
    return failed == 0 && checked > 0 ? 0 : 1;
}
